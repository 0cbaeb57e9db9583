"""PYTEST_DONT_REWRITE: the guard, installed by sitecustomize in every Python process of a test
run before any repository code, as a PEP 578 audit hook (which Python offers no way to remove).

It watches the files the run's source patch adds or changes (COOPERBENCH_GUARD, a JSON object:
`watch`, repository paths; `reports`, the folder of report files) and writes one JSON line per
finding, at once and before the audited operation returns, when code of those files:
  - reaches live objects through the garbage collector, or every thread's frames;
  - installs a trace, profile or audit hook;
  - replaces a function's code, or builds code objects by hand, or compiles code under the name
    of another file;
  - calls the interpreter's C API through ctypes, or turns raw addresses into objects;
  - touches the test reports, another process's memory, or the runner's settings in the
    environment.
"Code of those files" is the first frame, walking outwards, that is neither the standard
library's nor code made at run time (`<string>`): `inspect.stack()` called from a watched module
counts as that module's. Nothing here changes what the audited operation does, and a run whose
source patch adds nothing watches nothing.
"""

import json
import os
import sys
import sysconfig


def install(config: dict) -> None:
    watch = tuple(sorted({path.lstrip("/") for path in config.get("watch", ()) if isinstance(path, str)}))
    reports = config.get("reports")
    if not watch or not reports:
        return
    suffixes = tuple("/" + path for path in watch) + tuple(
        "/" + path.split("/", 1)[1] for path in watch if path.split("/", 1)[0] in ("src", "lib", "python") and "/" in path)
    stdlib = tuple(p.rstrip("/") + "/" for p in {sysconfig.get_paths()["stdlib"], sysconfig.get_paths()["platstdlib"]})
    site = ("site-packages/", "dist-packages/")
    reports_prefix = reports.rstrip("/") + "/"
    name = os.path.join(reports, f"guard-{os.getpid()}-{os.urandom(4).hex()}.jsonl")
    try:
        fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    except OSError:
        return
    write, getframe, dumps, getpid, exists = os.write, sys._getframe, json.dumps, os.getpid, os.path.isfile
    thread = __import__("_thread").get_ident
    busy, seen = set(), set()
    write_flags = os.O_WRONLY | os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_TRUNC

    def watched(filename) -> bool:
        return type(filename) is str and filename.endswith(suffixes)

    def library(filename: str) -> bool:
        return filename.startswith("<frozen") or (filename.startswith(stdlib) and not any(s in filename for s in site))

    def culprit(skip_stdlib: bool = True):
        """(file, line) of the code behind the audited operation (called from the hook): the
        first frame out that is neither code made at run time nor, unless asked, the standard
        library's, when it is a watched file's; else None."""
        frame = getframe(2)
        while frame is not None:
            filename = frame.f_code.co_filename
            if type(filename) is not str:
                return None
            if (filename.startswith("<") and not filename.startswith("<frozen")) or (skip_stdlib and library(filename)):
                frame = frame.f_back
                continue
            return (filename, frame.f_lineno) if watched(filename) else None
        return None

    def report(what: str, where) -> None:
        key = (what, where[0], where[1])
        if key in seen or len(seen) >= 100:
            return
        seen.add(key)
        line = dumps({"guard": what, "file": where[0], "line": where[1], "pid": getpid()})
        write(fd, (line + "\n").encode())

    def path_of(value):
        if type(value) is bytes:
            return value.decode("utf-8", "replace")
        return value if type(value) is str else None

    def judge(event: str, args: tuple):
        if event in ("gc.get_objects", "gc.get_referrers", "gc.get_referents"):
            return f"reaches live objects through the garbage collector ({event})"
        if event == "sys._current_frames":
            return "reads every thread's frames (sys._current_frames)"
        if event in ("sys.settrace", "sys.setprofile"):
            return f"installs a trace or profile function ({event})"
        if event == "sys.addaudithook":
            return "installs an audit hook"
        if event == "object.__setattr__" and len(args) >= 2 and args[1] == "__code__":
            return "replaces a function's code (__code__)"
        if event == "code.__new__":
            return "builds a code object by hand"
        if event == "ctypes.dlsym" and len(args) >= 2 and type(args[1]) is str and args[1].startswith(("Py", "_Py")):
            return f"calls the interpreter's C API through ctypes ({args[1]})"
        if event == "ctypes.PyObj_FromPtr":
            return "turns a raw address into an object through ctypes"
        if event == "open" and args:
            path = path_of(args[0])
            if path is None:
                return None
            if path.startswith(reports_prefix) or path.rstrip("/") == reports_prefix.rstrip("/"):
                return "opens the test reports"
            if path.startswith("/proc/") and path.endswith(("/mem", "/environ")):
                return f"opens another process's memory or environment ({path})"
            flags = args[2] if len(args) > 2 and type(args[2]) is int else 0
            mode = args[1] if len(args) > 1 and type(args[1]) is str else ""
            writing = bool(flags & write_flags) or any(c in mode for c in "wax+")
            if writing and any(f"/{pkg}/" in path for pkg in ("_pytest", "pluggy", "xdist")):
                return f"writes into the test runner's files ({path})"
            return None
        if event in ("os.remove", "os.rename", "os.truncate", "os.rmdir", "shutil.rmtree", "shutil.move") and args:
            path = path_of(args[0])
            if path is not None and path.startswith(reports_prefix):
                return "removes or rewrites the test reports"
            return None
        if event in ("os.putenv", "os.unsetenv") and args:
            key = path_of(args[0]) or ""
            if key.startswith(("COOPERBENCH", "PYTEST_")):
                return f"changes the test runner's settings in the environment ({key})"
        return None

    def hook(event, args):
        me = thread()
        if me in busy:
            return
        busy.add(me)
        try:
            if event == "compile" and len(args) >= 2:
                filename = path_of(args[1])
                if filename and not filename.startswith("<") and not watched(filename) and (
                        library(filename) or any(s in filename for s in site) or not exists(filename)):
                    where = culprit(skip_stdlib=False)
                    if where is not None:
                        report(f"compiles code under the name of a file it is not ({filename})", where)
                return
            what = judge(event, args)
            if what is not None:
                where = culprit()
                if where is not None:
                    report(what, where)
        except Exception:
            pass
        finally:
            busy.discard(me)

    sys.addaudithook(hook)
