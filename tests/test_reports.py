"""Test outcomes per test id from each runner's structured report (recorded samples), and which
ids a tests.patch adds or changes."""

from __future__ import annotations

import json

from cooperbench.generation import diffs
from cooperbench.generation.reports import RUNNERS, belongs_to, parse_report
from cooperbench.generation.validator import from_tests_patch, touched_tests

PYTEST_JUNIT = """<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest" tests="4">
<testcase classname="tests.test_a" name="test_ok" file="tests/test_a.py" line="1" time="0.001"/>
<testcase classname="tests.test_a" name="test_param[x-1]" file="tests/test_a.py" line="3" time="0.001"><failure message="assert 1 == 2">boom</failure></testcase>
<testcase classname="tests.test_a.TestGroup" name="test_in_class" file="tests/test_a.py" line="9" time="0.001"><skipped message="later"/></testcase>
<testcase classname="tests.test_b" name="test_setup" file="tests/test_b.py" line="1" time="0.001"><error message="fixture"/></testcase>
</testsuite></testsuites>"""

GO_JSON = "\n".join(json.dumps(e) for e in [
    {"Action": "run", "Package": "github.com/go-chi/chi/v5", "Test": "TestMux"},
    {"Action": "output", "Package": "github.com/go-chi/chi/v5", "Test": "TestMux", "Output": "=== RUN TestMux\n"},
    {"Action": "pass", "Package": "github.com/go-chi/chi/v5", "Test": "TestMux"},
    {"Action": "fail", "Package": "github.com/go-chi/chi/v5/middleware", "Test": "TestThrottle"},
    {"Action": "skip", "Package": "github.com/go-chi/chi/v5/middleware", "Test": "TestSlow"},
    {"Action": "pass", "Package": "github.com/go-chi/chi/v5"},
]) + "\nnot json at all\n"

CARGO = """running 3 tests
test parser::tests::parses_numbers ... ok
test parser::tests::rejects_junk ... FAILED
test eval::slow ... ignored
test result: FAILED. 1 passed; 1 failed; 1 ignored
"""

JEST = json.dumps({"testResults": [{"name": "/workspace/repo/src/form.test.ts", "assertionResults": [
    {"fullName": "form submits", "status": "passed"},
    {"fullName": "form validates", "status": "failed"},
    {"fullName": "form later", "status": "pending"},
]}]})


def test_pytest_junit_ids_and_outcomes():
    assert parse_report("pytest", PYTEST_JUNIT.encode()) == {
        "tests/test_a.py::test_ok": "passed",
        "tests/test_a.py::test_param[x-1]": "failed",
        "tests/test_a.py::TestGroup::test_in_class": "skipped",
        "tests/test_b.py::test_setup": "error",
    }


def test_go_test_json():
    assert parse_report("go", GO_JSON.encode()) == {
        "github.com/go-chi/chi/v5::TestMux": "passed",
        "github.com/go-chi/chi/v5/middleware::TestThrottle": "failed",
        "github.com/go-chi/chi/v5/middleware::TestSlow": "skipped",
    }


def test_cargo_lines():
    assert parse_report("cargo", CARGO.encode()) == {
        "parser::tests::parses_numbers": "passed", "parser::tests::rejects_junk": "failed", "eval::slow": "skipped"}


def test_jest_json():
    assert parse_report("jest", JEST.encode()) == {
        "/workspace/repo/src/form.test.ts::form submits": "passed",
        "/workspace/repo/src/form.test.ts::form validates": "failed",
        "/workspace/repo/src/form.test.ts::form later": "skipped",
    }


def test_unreadable_reports_give_nothing():
    for framework in ("pytest", "vitest", "jest"):
        assert parse_report(framework, b"<not xml or json") == {}


def test_runner_commands_write_reports():
    assert "--junitxml=/tmp/r.xml" in RUNNERS["pytest"].command(["tests/test_a.py"], "/tmp/r.xml")
    assert RUNNERS["go"].command([], "/tmp/r.jsonl") == "go test -json ./... > /tmp/r.jsonl"
    assert "--outputFile=/tmp/r.json" in RUNNERS["jest"].command(["a.test.ts"], "/tmp/r.json")


def test_which_ids_belong_to_a_file():
    assert belongs_to("tests/test_a.py::test_ok", "tests/test_a.py")
    assert belongs_to("/workspace/repo/src/form.test.ts::form submits", "src/form.test.ts")
    assert belongs_to("github.com/go-chi/chi/v5/middleware::TestThrottle", "middleware/throttle_test.go")
    assert not belongs_to("github.com/go-chi/chi/v5::TestMux", "middleware/throttle_test.go")
    assert not belongs_to("tests/test_b.py::test_setup", "tests/test_a.py")


def test_touched_tests_names_the_touched_tests():
    patch = (
        "diff --git a/tests/test_a.py b/tests/test_a.py\n--- a/tests/test_a.py\n+++ b/tests/test_a.py\n"
        "@@ -1,4 +1,8 @@\n def test_ok():\n-    assert 1\n+    assert True\n \n def test_other():\n+\n+\n+def test_new():\n+    assert 2\n"
    )
    scope = touched_tests(diffs.parse_diff(patch, "tests.patch"))
    assert scope == {"tests/test_a.py": {"test_ok", "test_new"}}
    assert from_tests_patch("tests/test_a.py::test_new", scope)
    assert from_tests_patch("tests/test_a.py::test_ok", scope)
    assert not from_tests_patch("tests/test_a.py::test_other", scope)
    assert from_tests_patch("tests/test_a.py::test_new[1-2]", scope)
