"""PYTEST_DONT_REWRITE: the test reporter, loaded into the outermost pytest process of a test run
by sitecustomize (before any repository code) and named to pytest with `-p`. The marker above
keeps pytest from warning that it cannot rewrite an imported module: a repository whose settings
turn warnings into errors must run exactly as it does without us.

It writes one JSON line per test outcome, and one per module that fails to collect, to a file
of its own in the reports folder (REPORTS, given by sitecustomize), and echoes each on the
stdout the process started with (a copy taken before any test code runs, which has left the
sandbox by the time test code could rewrite the file; reports.py compares the two). It lifts
`--maxfail`/`-x`, so one failing test hides no outcome after it. Once pytest has registered it,
it leaves sys.modules: repository code finds it by no name.

In a rerun (ORDER, a seed given by sitecustomize), it puts the collected tests in an order of that
seed, as the last hook to order them: test files shuffled, and the tests within each file, so a
test that passes only after another one shows as flaky (grade.py). The first run keeps the
repository's own order.

In an xdist worker (loaded there by sitecustomize too) it reports no outcome, which the controller
does, but makes the closing check where the tests ran.

It raises audit events for the guard (cooperbench_guard.py), which takes them from this file
only: at import, before any repository code, the guard snapshots the test runner; at each report,
it looks again at how outcomes are dispatched; when the session finishes, it makes its closing
check against the snapshot, with state no code of the repository can reach. It writes a first record when pytest is configured and a closing
one when the session is over: a process with the first and not the last did not finish as
pytest finishes (os._exit, a crash, a kill, or the reporter taken out).
"""

import json
import os
import sys

import pytest

ECHO_PREFIX = "@@cooperbench-pytest "


def _make():
    folder = globals().get("REPORTS")
    worker = bool(globals().get("WORKER"))
    variable, original = globals().get("ORIGINAL", (None, None))
    order = globals().get("ORDER") or ""
    echo = None
    if folder and not worker:
        try:
            echo = os.dup(1)  # the run's own stdout, before capture and before test code
        except OSError:
            pass
    encode = json.encoder.encode_basestring_ascii  # C; records are serialized by hand, not through json's globals
    write, getpid, urandom, join = os.write, os.getpid, os.urandom, os.path.join
    me, audit = sys.modules.get(__name__), sys.audit
    state = {"handle": None, "config": None}

    def text(value) -> str:
        if value is True or value is False or value is None:
            return {True: "true", False: "false", None: "null"}[value]
        if type(value) is int:
            return int.__repr__(value)
        if type(value) is str:
            return encode(value)
        if type(value) is list:
            return "[" + ", ".join(text(v) for v in value) + "]"
        if type(value) is dict:
            return "{" + ", ".join(f"{encode(str(k))}: {text(v)}" for k, v in value.items()) + "}"
        return encode(str(value))

    def emit(record: dict) -> None:
        if not folder:
            return
        line = text(record)
        if state["handle"] is None:
            state["handle"] = open(join(folder, f"pytest-{getpid()}-{urandom(4).hex()}.jsonl"), "a", encoding="utf-8",
                                   buffering=1)
        state["handle"].write(line + "\n")
        if echo is not None:
            write(echo, f"\n{ECHO_PREFIX}{line}\n".encode())

    def configure(config) -> None:
        """pytest has read its options: the environment goes back to the runner's own, so the
        processes tests start (nested pytest runs, xdist workers) see what they would without us;
        only xdist workers are told where to report (their controller reports the outcomes)."""
        if variable and original is None:
            os.environ.pop(variable, None)
        elif variable:
            os.environ[variable] = original
        if folder and not worker:
            os.environ["COOPERBENCH_XDIST_REPORTS"] = folder
        config.option.maxfail = 0
        state["config"] = config
        emit({"start": True, "worker": worker})
        for name, module in list(sys.modules.items()):
            if module is me:
                del sys.modules[name]

    def logreport(report) -> None:
        audit("cooperbench.report", state["config"])  # the guard looks at how outcomes are made, again
        if worker:
            return
        if report.when == "call" or report.outcome != "passed":
            outcome = report.outcome
            if report.when != "call" and outcome == "failed":
                outcome = "error"  # a fixture's setup or teardown failed
            emit({"id": report.nodeid, "when": report.when, "outcome": outcome})

    def collectreport(report) -> None:
        if report.failed and not worker:
            message = str(report.longrepr).strip().splitlines()
            emit({"id": report.nodeid, "when": "collect", "outcome": "error",
                  "message": message[-1][:300] if message else ""})

    @pytest.hookimpl(trylast=True)
    def reorder(session, config, items) -> None:
        if not order or worker:
            return
        import random

        shuffle = random.Random(order).shuffle  # an instance of its own: the global generator is left alone
        files: dict = {}
        for item in items:
            files.setdefault(item.nodeid.split("::")[0], []).append(item)
        groups = list(files.values())
        shuffle(groups)
        for group in groups:
            shuffle(group)
        items[:] = [item for group in groups for item in group]

    @pytest.hookimpl(trylast=True)
    def finish(session, exitstatus) -> None:
        audit("cooperbench.finish", session)  # the guard's closing check (cooperbench_guard.py)
        emit({"end": True, "worker": worker})
        if state["handle"] is not None:
            state["handle"].flush()

    hooks = {"pytest_configure": configure, "pytest_runtest_logreport": logreport,
             "pytest_collectreport": collectreport, "pytest_sessionfinish": finish,
             "pytest_collection_modifyitems": reorder}
    audit("cooperbench.reporter", dict(hooks))  # the guard's snapshot, before any repository code
    return hooks


# The hooks pytest registers are the closures themselves: rebinding this module's names later
# changes nothing pytest calls, and the guard knows them by identity.
globals().update(_make())
del _make
