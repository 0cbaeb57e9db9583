"""PYTEST_DONT_REWRITE: the test reporter, loaded into the outermost pytest process of a test run
by sitecustomize (before any repository code) and named to pytest with `-p`. The marker above
keeps pytest from warning that it cannot rewrite an imported module: a repository whose settings
turn warnings into errors must run exactly as it does without us.

It writes one JSON line per test outcome, and one per module that fails to collect, to a file
of its own in the reports folder (REPORTS, given by sitecustomize), and echoes each on the stdout the process started with
(a copy taken before any test code runs, which has left the sandbox by the time test code could
rewrite the file; runners.py compares the two). It lifts `--maxfail`/`-x`, so one failing test
hides no outcome after it.

In an xdist worker (loaded there by sitecustomize too) it reports no outcome, which the controller
does, but makes the closing check where the tests ran.

At the end of the session it writes a closing record with what it finds changed in the test
runner by code of the files the guard watches (see cooperbench_guard.py): runner functions and
methods rebound to such code, pytest hooks implemented there, the reporter's own hooks replaced,
tests whose callable is such code. A run with no closing record did not finish as pytest
finishes (killed, `os._exit`, or the reporter removed): the host counts what it reported.
"""

import json
import os
import sys

import pytest

RUNNER_MODULES = ("pytest", "_pytest", "pluggy", "xdist", "unittest")
ECHO_PREFIX = "@@cooperbench-pytest "


def _runner_module(name: str) -> bool:
    return name.split(".")[0] in RUNNER_MODULES


def _code_file(value, depth: int = 0):
    """The file a callable's code comes from ("<...>" for code made at run time), or None."""
    for attribute in ("__func__", "__wrapped__", "func", "fget"):
        inner = getattr(value, attribute, None) if depth < 5 else None
        if inner is not None and inner is not value:
            return _code_file(inner, depth + 1)
    code = getattr(value, "__code__", None)
    return getattr(code, "co_filename", None)


def _snapshot() -> dict:
    """Every function and class attribute the test runner's modules and their classes hold now."""
    found = {}
    for name, module in list(sys.modules.items()):
        if module is None or not _runner_module(name):
            continue
        for attr, value in list(getattr(module, "__dict__", {}).items()):
            found[(name, attr)] = value
            if isinstance(value, type) and getattr(value, "__module__", "") == name:
                for cattr, cvalue in list(value.__dict__.items()):
                    found[(name, attr, cattr)] = cvalue
    return found


def _make():
    guard = json.loads(os.environ.get("COOPERBENCH_GUARD") or "{}")
    suffixes = tuple("/" + p.lstrip("/") for p in guard.get("watch", ()) if isinstance(p, str))
    allowed = tuple("/" + p.lstrip("/") for p in guard.get("hooks_allowed", ()) if isinstance(p, str))
    folder = globals().get("REPORTS")
    state = {"handle": None, "echo": None, "worker": bool(globals().get("WORKER"))}
    if folder and not state["worker"]:
        try:
            state["echo"] = os.dup(1)  # the run's own stdout, before capture and before test code
        except OSError:
            pass
    before = _snapshot()
    me = sys.modules.get(__name__)
    dumps, write = json.dumps, os.write

    def foreign(filename) -> bool:
        """Code of a watched file, or code made at run time."""
        return isinstance(filename, str) and (filename.startswith("<") or filename.endswith(suffixes))

    def emit(record: dict) -> None:
        if not folder:
            return
        line = dumps(record)
        if state["handle"] is None:
            name = f"pytest-{os.getpid()}-{os.urandom(4).hex()}.jsonl"
            state["handle"] = open(os.path.join(folder, name), "a", encoding="utf-8", buffering=1)
        state["handle"].write(line + "\n")
        if state["echo"] is not None and not state["worker"]:
            write(state["echo"], f"\n{ECHO_PREFIX}{line}\n".encode())

    variable, original = globals().get("ORIGINAL", (None, None))

    def configure(config) -> None:
        """pytest has read its options: the environment goes back to the runner's own, so the
        processes tests start (nested pytest runs, xdist workers) see what they would without us;
        only xdist workers are told where to report (their controller reports the outcomes)."""
        if variable and original is None:
            os.environ.pop(variable, None)
        elif variable:
            os.environ[variable] = original
        if folder and not state["worker"]:
            os.environ["COOPERBENCH_XDIST_REPORTS"] = folder
        config.option.maxfail = 0
        state["config"] = config

    def logreport(report) -> None:
        if state["worker"]:
            return
        if report.when == "call" or report.outcome != "passed":
            outcome = report.outcome
            if report.when != "call" and outcome == "failed":
                outcome = "error"  # a fixture's setup or teardown failed
            emit({"id": report.nodeid, "when": report.when, "outcome": outcome})

    def collectreport(report) -> None:
        if report.failed and not state["worker"]:
            message = str(report.longrepr).strip().splitlines()
            emit({"id": report.nodeid, "when": "collect", "outcome": "error",
                  "message": message[-1][:300] if message else ""})

    def tampering(session) -> list:
        found = []
        if not suffixes:
            return found
        for key, old in before.items():
            module = sys.modules.get(key[0])
            holder = module if len(key) == 2 else getattr(module, key[1], None)
            if holder is None:
                continue
            new = (holder.__dict__ if isinstance(holder, type) else getattr(holder, "__dict__", {})).get(key[-1], old)
            if new is not old and foreign(_code_file(new)):
                found.append({"what": f"rebinds {'.'.join(key)} of the test runner", "file": _code_file(new)})
        config = state.get("config")
        hooks = getattr(getattr(config, "pluginmanager", None), "hook", None)
        for name, caller in list(getattr(hooks, "__dict__", {}).items()):
            for impl in getattr(caller, "get_hookimpls", lambda: [])():
                filename = _code_file(impl.function)
                if foreign(filename) and not (isinstance(filename, str) and filename.endswith(allowed)):
                    found.append({"what": f"implements the pytest hook {name}", "file": filename})
                expected = mine.get(name)
                if expected is not None and getattr(impl, "plugin", None) is me and impl.function is not expected:
                    found.append({"what": f"replaces the reporter's hook {name}", "file": _code_file(impl.function)})
        for item in list(getattr(session, "items", None) or []):
            if "runtest" in getattr(item, "__dict__", {}):
                found.append({"what": f"replaces how {item.nodeid} runs", "file": _code_file(item.__dict__["runtest"])})
            obj = getattr(item, "__dict__", {}).get("_obj")
            if obj is not None and foreign(_code_file(obj)):
                found.append({"what": f"runs its own code as the test {item.nodeid}", "file": _code_file(obj)})
        return found[:50]

    def guarded() -> list:
        """The guard's findings of this run so far (its files), echoed with the closing record."""
        found = []
        for name in sorted(os.listdir(folder)) if folder and suffixes else []:
            if name.startswith("guard-"):
                with open(os.path.join(folder, name), encoding="utf-8", errors="replace") as handle:
                    found += [json.loads(line) for line in handle.read().split("\n") if line.startswith("{")][:20]
        return found

    def finish(session, exitstatus) -> None:
        try:
            found = tampering(session) + guarded()
        except Exception as exc:  # a runner in a shape we do not know: say so, do not guess
            found = [{"what": f"the reporter could not check the test runner: {type(exc).__name__}", "file": None}]
        emit({"end": True, "worker": state["worker"], "tampering": found})
        if state["handle"] is not None:
            state["handle"].flush()

    mine = {"pytest_configure": configure, "pytest_runtest_logreport": logreport,
            "pytest_collectreport": collectreport, "pytest_sessionfinish": pytest.hookimpl(trylast=True)(finish)}
    return mine


# The hooks pytest registers are the closures themselves: rebinding this module's names later
# changes nothing pytest calls, and the closing check knows them by identity.
globals().update(_make())
