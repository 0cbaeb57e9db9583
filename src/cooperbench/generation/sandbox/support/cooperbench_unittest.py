"""The test reporter for `python -m unittest` processes, loaded by sitecustomize before any
repository code. unittest has no plugins: the outcome methods of `unittest.result.TestResult`
(which every result class reaches through `super()`) are wrapped to call the original first and
then write the same records as the pytest reporter (cooperbench_pytest.py), with ids in pytest's
shape (`tests/test_x.py::TestC::test_y`), to a file of their own and echoed on the stdout the
process started with. Nothing unittest prints or returns changes.

It raises the guard's two events (cooperbench_guard.py) from this file: at load, before any
repository code (the guard's snapshot), and at exit (its closing check of the test runner's
modules, where unittest's own classes are).
"""

import atexit
import os
import sys
import unittest.result

ECHO_PREFIX = "@@cooperbench-pytest "


def _install(folder: str) -> None:
    import json

    encode, write, audit = json.encoder.encode_basestring_ascii, os.write, sys.audit
    try:
        echo = os.dup(1)
    except OSError:
        echo = None
    name = os.path.join(folder, f"unittest-{os.getpid()}-{os.urandom(4).hex()}.jsonl")
    root = os.getcwd()

    def relative(path: str) -> str:
        return os.path.relpath(path, root) if os.path.isabs(path) else path

    def test_id(test) -> str:
        doctest = getattr(test, "_dt_test", None)  # doctest.DocTestCase: one test per docstring, as pytest names it
        if doctest is not None:
            return f"{relative(doctest.filename or '')}::{doctest.name}"
        method = getattr(test, "_testMethodName", None)
        module = sys.modules.get(type(test).__module__)
        path = getattr(module, "__file__", None)
        if not method or not path:
            return str(getattr(test, "description", None) or test)
        path = relative(path)
        if path.startswith(".."):  # a test case class of a library (FunctionTestCase, say): its own id tells tests apart
            return test.id()
        return f"{path}::{type(test).__qualname__.replace('.', '::')}::{method}"

    def emit(test, outcome: str) -> None:
        when = "call"
        if type(test).__name__ == "_FailedTest":  # a module that did not import: pytest's collection error
            when, identity = "collect", test._testMethodName.replace(".", "/") + ".py"
        else:
            identity = test_id(test)
        line = "{" + f'"id": {encode(identity)}, "when": "{when}", "outcome": {encode(outcome)}' + "}"
        with open(name, "a", encoding="utf-8") as handle:
            handle.write(line + "\n")
        if echo is not None:
            write(echo, f"\n{ECHO_PREFIX}{line}\n".encode())

    def wrap(method: str, outcome: str) -> None:
        original = getattr(unittest.result.TestResult, method)

        def wrapper(self, test, *args):
            result = original(self, test, *args)
            if method == "addSubTest":
                if args and args[-1] is not None:  # a failing subtest fails its test
                    emit(test, "failed")
            else:
                emit(test, outcome)
            return result

        wrapper.__name__, wrapper.__qualname__, wrapper.__doc__ = original.__name__, original.__qualname__, original.__doc__
        setattr(unittest.result.TestResult, method, wrapper)

    for method, outcome in (("addSuccess", "passed"), ("addFailure", "failed"), ("addError", "error"),
                            ("addSkip", "skipped"), ("addExpectedFailure", "skipped"),
                            ("addUnexpectedSuccess", "failed"), ("addSubTest", "failed")):
        wrap(method, outcome)
    audit("cooperbench.reporter", {})  # the guard's snapshot, before any repository code
    atexit.register(lambda: audit("cooperbench.finish", None))


_install(globals()["REPORTS"])
