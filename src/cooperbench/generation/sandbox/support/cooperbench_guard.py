"""PYTEST_DONT_REWRITE: the guard, installed by sitecustomize in every Python process of a test run
before any repository code, as a PEP 578 audit hook (which Python offers no way to remove). Its
state lives in closures that only the hook and the interpreter hold: no module, no global, no
registry names it, so code that wants to reach it must first ask the garbage collector or ctypes,
which the guard reports before the call returns.

It watches the files the run's source patch adds or changes (`watch`, the ends of their paths)
and reports, as JSON lines written at once into a file opened by its path for each line (there
is no descriptor to redirect) and echoed on the stderr the process started with (bytes that have
left the process cannot be taken back):

1. while the tests run, when code of those files
   - reaches live objects through the garbage collector, or every thread's frames;
   - installs a trace, profile or audit hook;
   - replaces a function's code, builds code objects by hand, or compiles code under the name of
     another file (which would hide it from this watch);
   - calls the interpreter's C API through ctypes, or turns raw addresses into objects;
   - touches the test reports, another process's memory, or the runner's settings in the
     environment.
   "Code of those files" is the first frame, walking outwards, that is neither the standard
   library's nor code made at run time (`<string>`): `inspect.stack()` called from a watched
   module counts as that module's.
2. when the reporter says pytest's session is over (an audit event only the reporter's own file
   may raise), the closing check: what in the test runner now runs code from outside the test
   runner and the libraries (the repository's files, code made at run time, code of no file),
   against a snapshot taken when the reporter was imported, before any repository code ran:
   runner functions and methods rebound; callables set on the plugin manager, the hook relay and
   callers, the session, the config or a test item; pytest hooks implemented; the reporter's
   hooks replaced; tests whose callable comes from another file than their own. Each finding
   names its file, and the host keeps those of the watched files (testrun.py); a closing record
   follows, so a process whose session never reached it is known.
Values are inspected through their types only (`type()`, the C-level members of functions,
methods and partials, class dictionaries): no attribute lookup runs code the repository defined.
Nothing here changes what the audited operation does.
"""

import json
import os
import sys
import sysconfig

RUNNER_MODULES = ("pytest", "_pytest", "pluggy", "xdist", "execnet", "unittest")
REPORTER_EVENTS = ("cooperbench.reporter", "cooperbench.finish")


def install(config: dict, reporters: tuple[str, ...]) -> None:
    watch = tuple(sorted({p.lstrip("/") for p in config.get("watch", ()) if isinstance(p, str) and p.strip("/")}))
    reports = config.get("reports")
    if not watch or not reports:
        return
    suffixes = tuple("/" + path for path in watch)
    paths = sysconfig.get_paths()
    stdlib = tuple({paths[k].rstrip("/") + "/" for k in ("stdlib", "platstdlib")})
    libraries = tuple({paths[k].rstrip("/") + "/" for k in ("stdlib", "platstdlib", "purelib", "platlib")})
    site = ("site-packages/", "dist-packages/")
    reports_prefix = reports.rstrip("/") + "/"
    name = os.path.join(reports, f"guard-{os.getpid()}-{os.urandom(4).hex()}.jsonl")
    opener, closer, writer, getpid = os.open, os.close, os.write, os.getpid
    flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND
    write_flags = os.O_WRONLY | os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_TRUNC
    getframe, encode, thread = sys._getframe, json.encoder.encode_basestring_ascii, __import__("_thread").get_ident
    modules = sys.modules
    function, partial = type(install), type(__import__("functools").partial(int))
    method, bound, builtin = type(json.JSONEncoder().encode), type(object().__str__), type(len)
    module_type, class_dict = type(os), type.__dict__["__dict__"].__get__

    class _Slotted:
        __slots__ = ("slot",)

    member, getset = type(_Slotted.__dict__["slot"]), type(type.__dict__["__dict__"])
    try:
        echo = os.dup(2)  # the stderr this process started with
    except OSError:
        echo = None
    busy, seen, held = set(), set(), {"before": None, "hooks": {}}

    def text(value) -> str:
        if type(value) is int:
            return int.__repr__(value)
        if value is True or value is False or value is None:
            return {True: "true", False: "false", None: "null"}[value]
        return encode(value if type(value) is str else "?")

    def emit(record: dict) -> None:
        line = "{" + ", ".join(f"{encode(key)}: {text(value)}" for key, value in record.items()) + "}\n"
        fd = opener(name, flags, 0o644)  # opened by its path each time: no descriptor to redirect
        try:
            writer(fd, line.encode())
        finally:
            closer(fd)
        if echo is not None:
            try:
                writer(echo, ("\n@@cooperbench-guard " + line).encode())
            except OSError:
                pass

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
        emit({"guard": what, "file": where[0], "line": where[1], "pid": getpid()})

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
        if event in REPORTER_EVENTS:
            return f"raises the reporter's own event ({event})"
        if event == "open" and args:
            path = path_of(args[0])
            if path is None:
                return None
            if path.startswith(reports_prefix) or path.rstrip("/") == reports_prefix.rstrip("/"):
                return "opens the test reports"
            if path.startswith("/proc/") and path.endswith(("/mem", "/environ")):
                return f"opens another process's memory or environment ({path})"
            mode_flags = args[2] if len(args) > 2 and type(args[2]) is int else 0
            mode = args[1] if len(args) > 1 and type(args[1]) is str else ""
            writing = bool(mode_flags & write_flags) or any(c in mode for c in "wax+")
            if writing and any(f"/{pkg}/" in path for pkg in ("_pytest", "pluggy", "xdist")):
                return f"writes into the test runner's files ({path})"
            return None
        if event in ("os.remove", "os.rename", "os.truncate", "os.rmdir", "os.chmod", "os.chown", "os.utime",
                     "shutil.rmtree", "shutil.move") and args:
            path = path_of(args[0])
            if path is not None and path.startswith(reports_prefix):
                return "removes or rewrites the test reports"
            return None
        if event in ("os.putenv", "os.unsetenv") and args:
            key = path_of(args[0]) or ""
            if key.startswith(("COOPERBENCH", "PYTEST_")):
                return f"changes the test runner's settings in the environment ({key})"
        return None

    # ---- the closing check: types and C-level members only, no lookup that runs foreign code

    def class_file(cls, depth: int = 0):
        """Where a class's behaviour comes from: the file of any method along its MRO whose code
        comes from outside the libraries (a class may claim any `__module__`), else its module's."""
        for klass in type.__dict__["__mro__"].__get__(cls):
            if klass is object:
                continue
            for value in list(class_dict(klass).values()):
                if depth < 3 and type(value) in (function, classmethod, staticmethod, property, partial):
                    filename = code_file(value, depth + 1)
                    if type(filename) is str and outside(filename):
                        return filename
        module = modules.get(class_dict(cls).get("__module__"))
        return instance_dict(module).get("__file__") if type(module) is module_type else None

    def code_file(value, depth: int = 0):
        """The file of the code a value runs ("<...>" for code made at run time; None for code
        of no Python file): a function's own code, never what `functools.wraps` says it wraps."""
        kind = type(value)
        if kind is function:
            return value.__code__.co_filename
        if depth < 5 and kind in (classmethod, staticmethod, method):
            return code_file(value.__func__, depth + 1)
        if depth < 5 and kind is partial:
            return code_file(value.func, depth + 1)
        if depth < 5 and kind is property:
            return code_file(value.fget, depth + 1) if value.fget is not None else None
        if isinstance(value, type):
            return class_file(value, depth)
        if kind in (bound, builtin):
            return None
        return class_file(kind, depth)  # an object: its class says where its behaviour comes from

    def outside(filename) -> bool:
        return not (type(filename) is str and filename.startswith(libraries))

    def runs(value) -> bool:
        kind = type(value)
        return kind in (function, method, partial, classmethod, staticmethod, property, bound, builtin) or (
            "__call__" in class_dict(kind) and class_dict(kind).get("__module__") != "builtins")

    def instance_dict(obj) -> dict:
        """An object's own attributes: its __dict__ (only the real one) and its slots."""
        found, space = {}, None
        for cls in type.__dict__["__mro__"].__get__(type(obj)):
            for attr, descriptor in list(class_dict(cls).items()):
                if type(descriptor) is member and attr not in found:
                    try:
                        found[attr] = descriptor.__get__(obj)
                    except AttributeError:
                        pass
            if space is None and "__dict__" in class_dict(cls):
                space = class_dict(cls)["__dict__"]
        if type(obj) is module_type or type(space) is getset:
            try:
                own = object.__getattribute__(obj, "__dict__")
            except (AttributeError, TypeError):
                own = None
            if type(own) is dict:
                found.update(own)
        return found

    def snapshot() -> dict:
        found = {}
        for module_name, module in list(modules.items()):
            if type(module_name) is not str or module_name.split(".")[0] not in RUNNER_MODULES or type(module) is not module_type:
                continue
            for attr, value in list(instance_dict(module).items()):
                found[(module_name, attr)] = value
                if isinstance(value, type) and class_dict(value).get("__module__") == module_name:
                    for cattr, cvalue in list(class_dict(value).items()):
                        found[(module_name, attr, cattr)] = cvalue
        return found

    def callables_in(obj, where: str, found: list) -> None:
        for attr, value in list(instance_dict(obj).items()):
            if attr != "_obj" and not isinstance(value, type) and runs(value) and outside(code_file(value)):
                found.append({"what": f"sets {where}.{attr}", "file": code_file(value)})

    def closing(session) -> list:
        found = []
        for key, old in (held["before"] or {}).items():
            module = modules.get(key[0])
            if type(module) is not module_type:
                continue
            holder = module if len(key) == 2 else instance_dict(module).get(key[1])
            if holder is None:
                continue
            space = class_dict(holder) if isinstance(holder, type) else instance_dict(holder)
            new = space.get(key[-1], old)
            if new is not old and runs(new) and outside(code_file(new)):
                found.append({"what": f"rebinds {'.'.join(key)} of the test runner", "file": code_file(new)})
        config = instance_dict(session).get("config")
        manager = instance_dict(config).get("pluginmanager")
        relay = instance_dict(manager).get("hook")
        for obj, where in ((manager, "the plugin manager"), (session, "the session"), (config, "the config"),
                           (relay, "the hook relay")):
            callables_in(obj, where, found)
        for hook, caller in list(instance_dict(relay).items()):
            callables_in(caller, f"the hook {hook}", found)
            for impl in list(instance_dict(caller).get("_hookimpls") or []):
                fields = instance_dict(impl)
                filename = code_file(fields.get("function"))
                if outside(filename):
                    found.append({"what": f"implements the pytest hook {hook}", "file": filename, "hook": True})
                plugin = fields.get("plugin")
                if type(plugin) is module_type and instance_dict(plugin).get("__file__") in reporters and (
                        fields.get("function") is not held["hooks"].get(hook)):
                    found.append({"what": f"replaces the reporter's hook {hook}", "file": filename})
        for item in list(instance_dict(session).get("items") or []):
            fields = instance_dict(item)
            nodeid = fields.get("_nodeid") if type(fields.get("_nodeid")) is str else "?"
            callables_in(item, f"the test {nodeid}", found)
            own = fields.get("path")
            obj = fields.get("_obj")
            if obj is not None and outside(code_file(obj)) and code_file(obj) != (str(own) if own is not None else None):
                found.append({"what": f"runs code of another file as the test {nodeid}", "file": code_file(obj)})
        return found

    def reporter_event(event: str, args: tuple) -> None:
        """The reporter's two events, taken from the reporter's own file only."""
        frame = getframe(2)
        if frame.f_code.co_filename not in reporters:
            where = culprit()
            report(f"raises the reporter's own event ({event})", where or ("?", 0))
            return
        if event == "cooperbench.reporter":
            held["before"] = snapshot()
            held["hooks"] = dict(args[0]) if args and type(args[0]) is dict else {}
            return
        try:
            found = closing(args[0] if args else None)
        except Exception as exc:  # a runner in a shape we do not know: say so, do not guess
            found = [{"what": f"the closing check failed ({type(exc).__name__})", "file": None}]
        for record in found[:1000]:
            emit({**record, "pid": getpid()})
        emit({"end": True, "pid": getpid()})

    def hook(event, args):
        me = thread()
        if me in busy:
            return
        busy.add(me)
        try:
            if event in REPORTER_EVENTS:
                reporter_event(event, args)
            elif event == "compile" and len(args) >= 2:
                filename = path_of(args[1])
                if filename and not filename.startswith("<") and not watched(filename):
                    where = culprit(skip_stdlib=False)
                    if where is not None:
                        report(f"compiles code under the name of another file ({filename})", where)
            else:
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
