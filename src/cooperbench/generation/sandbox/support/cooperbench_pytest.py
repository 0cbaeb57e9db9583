"""A pytest plugin loaded into every test run through PYTEST_ADDOPTS (`-p cooperbench_pytest`).

It writes one JSON line per test outcome, and one per module that fails to collect, to a file of
its own under $COOPERBENCH_REPORTS, so a runner script that calls pytest several times leaves one
report per call and nothing in the script has to change. It also lifts `--maxfail`/`-x`: one
failing test must not hide the outcomes of the tests after it (the run's exit code still fails).

Each record is also echoed, as it happens, on the stdout pytest started with (a duplicate taken
before any test code runs): that copy has left the sandbox by the time the candidate's code could
rewrite the report file, so the two are compared out of process (runners.py).
"""

import json
import os
import secrets

_handle = None
try:
    _echo = os.dup(1)  # before capture and before any test code: the run's own stdout
except OSError:
    _echo = None
ECHO_PREFIX = "@@cooperbench-pytest "


def _write(record: dict) -> None:
    global _handle
    folder = os.environ.get("COOPERBENCH_REPORTS")
    if not folder:
        return
    if _handle is None:
        name = f"pytest-{os.getpid()}-{secrets.token_hex(4)}.jsonl"
        _handle = open(os.path.join(folder, name), "a", encoding="utf-8", buffering=1)
    line = json.dumps(record)
    _handle.write(line + "\n")
    if _echo is not None:
        os.write(_echo, f"\n{ECHO_PREFIX}{line}\n".encode())


def pytest_configure(config) -> None:
    config.option.maxfail = 0


def pytest_runtest_logreport(report) -> None:
    if report.when == "call" or report.outcome != "passed":
        outcome = report.outcome
        if report.when != "call" and outcome == "failed":
            outcome = "error"  # a fixture's setup or teardown failed
        _write({"id": report.nodeid, "when": report.when, "outcome": outcome})


def pytest_collectreport(report) -> None:
    if report.failed:
        message = str(report.longrepr).strip().splitlines()
        _write({"id": report.nodeid, "when": "collect", "outcome": "error", "message": message[-1][:300] if message else ""})
