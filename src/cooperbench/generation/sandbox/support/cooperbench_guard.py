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
REPORTER_EVENTS = ("cooperbench.reporter", "cooperbench.report", "cooperbench.finish")
EVENTS = frozenset({  # every event the hook looks at; the rest return at once (imports fire thousands)
    *REPORTER_EVENTS, "compile", "gc.get_objects", "gc.get_referrers", "gc.get_referents", "sys._current_frames",
    "sys.settrace", "sys.setprofile", "sys.addaudithook", "object.__setattr__", "code.__new__", "ctypes.dlsym",
    "ctypes.PyObj_FromPtr", "open", "os.remove", "os.rename", "os.truncate", "os.rmdir", "os.chmod", "os.chown",
    "os.utime", "shutil.rmtree", "shutil.move", "os.putenv", "os.unsetenv"})


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
    namespace = module_type.__dict__["__dict__"].__get__  # a module's globals (a C-level member)

    class _Slotted:
        __slots__ = ("slot",)

    member, getset = type(_Slotted.__dict__["slot"]), type(type.__dict__["__dict__"])
    try:
        echo = os.dup(2)  # the stderr this process started with
    except OSError:
        echo = None
    busy, seen, held = set(), set(), {"before": None, "hooks": {}, "reporter": None, "seen": [], "keys": set(),
                                     "classes": {}, "names": {}}

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
        if event == "object.__setattr__" and len(args) >= 2 and type(args[1]) is str:
            if args[1] == "__code__":
                return "replaces a function's code (__code__)"
            owner = plain(class_dict(type(args[0]))).get("__module__") if args[1] == "__class__" else None
            if type(owner) is str and owner.split(".")[0] in RUNNER_MODULES:
                return "changes the class of one of the test runner's objects (__class__)"
            return None
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

    # ---- the closing check: exact types and C-level members only. No comparison, hash, lookup
    # or call here may run code the repository defined: every key is a plain str before it is
    # hashed or compared, dictionaries are copied to plain-str keys before they are read, and no
    # Python-level method of any object (not even the standard library's) is called.

    def plain(mapping) -> dict:
        """A copy of a dict or mappingproxy keeping only plain-str keys (C iteration, str hashing)."""
        return {k: v for k, v in list(mapping.items()) if type(k) is str}

    def mro(cls) -> tuple:
        return type.__dict__["__mro__"].__get__(cls)

    def class_file(cls, depth: int = 0):
        """Where a class's behaviour comes from: for one of the test runner's own classes (in the
        snapshot, made before any repository code), its module's; for any other, the file of any
        method along its MRO whose code comes from outside the libraries (a class may claim any
        `__module__`), else its module's."""
        if cls in held["classes"]:
            return held["classes"][cls]
        for klass in mro(cls):
            if klass is object:
                continue
            for value in list(plain(class_dict(klass)).values()):
                if depth < 3 and type(value) in (function, classmethod, staticmethod, property, partial):
                    filename = code_file(value, depth + 1)
                    if type(filename) is str and outside(filename):
                        return filename
        name = plain(class_dict(cls)).get("__module__")
        module = plain(modules).get(name) if type(name) is str else None
        return instance_dict(module).get("__file__") if type(module) is module_type else None

    def closure_file(value, depth: int):
        """A library function that closes over code from outside (functools.singledispatch, a
        decorator's wrapper): that code's file."""
        for cell in value.__closure__ or ():
            try:
                inner = cell.cell_contents
            except ValueError:
                continue
            if type(inner) in (function, method, partial):
                filename = code_file(inner, depth + 1)
                if outside(filename):
                    return filename
            elif type(inner) is dict:  # singledispatch's registry
                for entry in list(inner.values())[:50]:
                    if type(entry) in (function, method, partial) and outside(code_file(entry, depth + 1)):
                        return code_file(entry, depth + 1)
        return None

    def code_file(value, depth: int = 0):
        """The file of the code a value runs ("<...>" for code made at run time; None for code
        of no Python file): a function's own code, never what `functools.wraps` says it wraps."""
        kind = type(value)
        if kind is function:
            filename = value.__code__.co_filename
            if type(filename) is str and filename.startswith("<") and not filename.startswith("<frozen"):
                # made at run time (a dataclass's __init__, say): the module whose globals it runs in
                made_in = plain(value.__globals__).get("__file__")
                filename = made_in if type(made_in) is str and not outside(made_in) else filename
            if depth < 4 and type(filename) is str and not outside(filename):
                return closure_file(value, depth) or filename
            return filename
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
        wrapped = instance_dict(value).get("__wrapped__")
        if depth < 5 and wrapped is not None:  # a C wrapper (lru_cache's) says what it wraps nowhere else
            return code_file(wrapped, depth + 1)
        return class_file(kind, depth)  # an object: its class says where its behaviour comes from

    def outside(filename) -> bool:
        return not (type(filename) is str and filename.startswith(libraries))

    data = (str, bytes, int, float, bool, type(None), tuple, list, dict, set, frozenset)

    layouts = {}  # id(type) -> (the type, its slots' descriptors by name, its instances' __dict__ descriptor)

    def layout(cls) -> tuple:
        """Where a type's instances keep their attributes: its slots' member descriptors and its
        __dict__ descriptor (C-level, so reading through them runs no code), read from its class
        dictionaries the first time the type is seen (the runner's own classes at the snapshot).
        A layout is fixed when a type is made: a descriptor rebound in a class afterwards neither
        hides the slot nor runs in its place. (Read again at every look, the class dictionaries
        made the per-report check 3.5 ms a report: humanize's suite ran 4.1-4.7x as long as
        without the guard, 2.4x since.)"""
        known = layouts.get(id(cls))
        if known is not None and known[0] is cls:
            return known
        slots, space = {}, None
        for klass in mro(cls):
            entries = plain(class_dict(klass))
            for attr, descriptor in entries.items():
                if type(descriptor) is member and attr not in slots:
                    slots[attr] = descriptor
            if space is None:
                space = entries.get("__dict__")
        known = layouts[id(cls)] = (cls, tuple(slots.items()), space if type(space) is getset else None)
        return known

    def instance_dict(obj) -> dict:
        """An object's own attributes, plain-str keys only: its __dict__ (only the real one) and
        its slots."""
        found = {}
        _, slots, space = layout(type(obj))
        for attr, descriptor in slots:
            try:
                found[attr] = descriptor.__get__(obj)
            except (AttributeError, TypeError):
                pass
        if type(obj) is module_type or space is not None:
            try:
                own = object.__getattribute__(obj, "__dict__") if type(obj) is module_type else space.__get__(obj)
            except (AttributeError, TypeError):
                own = None
            if type(own) is dict:
                found.update(plain(own))
        return found

    def snapshot() -> dict:
        """Every attribute of the test runner's modules and of their classes; and those classes
        (and the classes they hold) with their modules' files, trusted from now on."""
        found = {}
        for module_name, module in list(plain(modules).items()):
            if module_name.split(".")[0] not in RUNNER_MODULES or type(module) is not module_type:
                continue
            filename = instance_dict(module).get("__file__")
            for attr, value in list(instance_dict(module).items()):
                found[(module_name, attr)] = value
                if isinstance(value, type) and plain(class_dict(value)).get("__module__") == module_name:
                    held["classes"][value] = filename
                    layout(value)  # read before any repository code could rebind a slot's descriptor
                    for cattr, cvalue in list(plain(class_dict(value)).items()):
                        found[(module_name, attr, cattr)] = cvalue
                        if isinstance(cvalue, type):
                            held["classes"].setdefault(cvalue, filename)
        return found

    def runner_names(cls, library=None) -> frozenset:
        """The attribute names the test runner's own code of a class (and its bases) uses: what
        pytest reads back from its objects. A value a conftest or a plugin keeps on the config
        under a name of its own steers nothing of pytest's, and is none of this check's business.
        `library`: the names of its classes from that package only (pluggy's: what dispatches)."""
        if (cls, library) not in held["names"]:
            names = set()
            for klass in mro(cls):
                owner = plain(class_dict(klass)).get("__module__")
                if library is not None and not (type(owner) is str and owner.split(".")[0] == library):
                    continue
                names.update(plain(class_dict(klass)))  # its methods: an instance value shadows one
                for value in list(plain(class_dict(klass)).values()):
                    inner = value.__func__ if type(value) in (classmethod, staticmethod) else value
                    if type(inner) is function and not outside(inner.__code__.co_filename):
                        names.update(n for n in inner.__code__.co_names if type(n) is str)
            held["names"][(cls, library)] = frozenset(names)
        return held["names"][(cls, library)]

    def behaviour_in(obj, where: str, found: list, skip: tuple = (), names=None) -> None:
        """Every value an object holds (under `names` only, if given) that is code or an object
        with behaviour of its own, whose behaviour comes from outside the libraries; and the
        object's own class, if it does."""
        filename = class_file(type(obj))
        if outside(filename) and obj is not None:
            found.append({"what": f"replaces the class of {where}", "file": filename})
        for attr, value in list(instance_dict(obj).items()):
            if attr in skip or type(value) in data or (names is not None and attr not in names):
                continue
            filename = code_file(value)
            if outside(filename):
                found.append({"what": f"sets {where}.{attr}", "file": filename})

    def hooks_of(relay, names=None) -> list:
        callers = instance_dict(relay)
        return [(n, c) for n, c in callers.items() if names is None or n in names]

    def dispatch(config, found: list, names=None) -> None:
        """The plugin manager, the hook relay, the hook callers and their implementations (of the
        hooks `names` only, if given: on each report, the hooks that make outcomes, and of the
        manager what pluggy's code of it reads; a relay's every caller looked at then took 13 ms a
        test, and the manager's every value, pytest's conftest bookkeeping included, 0.7 ms)."""
        manager = instance_dict(config).get("pluginmanager")
        relay = instance_dict(manager).get("hook")
        behaviour_in(manager, "the plugin manager", found, names=None if names is None else runner_names(type(manager), "pluggy"))
        behaviour_in(relay, "the hook relay", found, names=names)
        for hook, caller in hooks_of(relay, names):
            behaviour_in(caller, f"the hook {hook}", found, skip=("_hookimpls",))
            for impl in list(instance_dict(caller).get("_hookimpls") or []):
                fields = instance_dict(impl)
                filename = code_file(fields.get("function"))
                if outside(filename):
                    found.append({"what": f"implements the pytest hook {hook}", "file": filename, "hook": True})
                plugin = fields.get("plugin")
                if type(plugin) is module_type and namespace(plugin) is held["reporter"] and (
                        fields.get("function") is not held["hooks"].get(hook)):
                    found.append({"what": f"replaces the reporter's hook {hook}", "file": filename})

    def closing(session) -> list:
        found = list(held["seen"])
        spaces, loaded = {}, plain(modules)  # copied once: a copy per snapshot key took seconds (dspy)
        for key, old in (held["before"] or {}).items():
            holder_key = key[:-1]
            if holder_key not in spaces:
                module = loaded.get(key[0])
                holder = module if len(key) == 2 else instance_dict(module).get(key[1]) if type(module) is module_type else None
                spaces[holder_key] = (plain(class_dict(holder)) if isinstance(holder, type) else instance_dict(holder)
                                      if holder is not None else None)
            space = spaces[holder_key]
            if space is None:
                continue
            new = space.get(key[-1], old)
            if new is not old and type(new) not in data and outside(code_file(new)):
                found.append({"what": f"rebinds {'.'.join(key)} of the test runner", "file": code_file(new)})
        if session is not None:
            config = instance_dict(session).get("config")
            behaviour_in(session, "the session", found, names=runner_names(type(session)))
            behaviour_in(config, "the config", found, names=runner_names(type(config)))
            dispatch(config, found)
            for item in list(instance_dict(session).get("items") or []):
                fields = instance_dict(item)
                nodeid = fields.get("_nodeid") if type(fields.get("_nodeid")) is str else "?"
                behaviour_in(item, f"the test {nodeid}", found, skip=("_obj",), names=runner_names(type(item)))
                obj = fields.get("_obj")
                if obj is not None and outside(code_file(obj)):
                    found.append({"what": f"runs code outside the libraries as the test {nodeid}", "file": code_file(obj)})
        return found

    OUTCOME_HOOKS = ("pytest_runtest_logreport", "pytest_runtest_makereport", "pytest_report_teststatus",
                     "pytest_runtest_protocol", "pytest_runtest_call", "pytest_pyfunc_call", "pytest_runtest_setup",
                     "pytest_runtest_teardown")

    def reporter_event(event: str, args: tuple) -> None:
        """The reporter's events, taken from the reporter's own file only: its snapshot, each
        report (the dispatch of the hooks that make outcomes, looked at again: what is undone
        before the session ends was still seen), the session's end."""
        frame = getframe(2)
        if frame.f_code.co_filename not in reporters:
            where = culprit()
            report(f"raises the reporter's own event ({event})", where or ("?", 0))
            return
        if event == "cooperbench.reporter":
            held["before"] = snapshot()
            held["hooks"] = dict(args[0]) if args and type(args[0]) is dict else {}
            # the reporter module, known by its namespace (its `__file__` would be a copy of its
            # every global at each look, and can be rebound)
            held["reporter"] = frame.f_globals
            return
        if event == "cooperbench.report":
            found = []
            dispatch(args[0] if args else None, found, OUTCOME_HOOKS)  # the config
            for record in found:
                key = (record["what"], record["file"] if type(record["file"]) is str else None)
                if key not in held["keys"]:
                    held["keys"].add(key)
                    held["seen"].append(record)
            return
        try:
            found = closing(args[0] if args else None)
        except Exception as exc:  # a runner in a shape we do not know: say so, do not guess
            found = [{"what": f"the closing check failed ({type(exc).__name__})", "file": None}]
        for record in found[:1000]:
            emit({**record, "pid": getpid()})
        emit({"end": True, "pid": getpid()})

    def hook(event, args):
        if type(event) is not str or event not in EVENTS or type(args) is not tuple:
            return
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
