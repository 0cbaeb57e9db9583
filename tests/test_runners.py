"""Per-test outcomes from every runner kind, graded the SWE-bench way.

The pytest records come from real pytest runs with the plugin loaded exactly as test runs load it
(the support files' sitecustomize on PYTHONPATH); go, cargo and jest records are recorded samples of their output.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cooperbench.generation.grading.grade import from_tests_patch, grade, touched_tests
from cooperbench.generation.grading.outcomes import (
    ERROR,
    FAILED,
    PASSED,
    SKIPPED,
    belongs_to,
    normalize_id,
    read_outcomes,
)
from cooperbench.generation.tasks.environment import grading_env, support_files

PYTEST_MODULE = '''
import uuid, pytest

def test_ok():
    assert True

def test_fails():
    assert 1 == 2

@pytest.fixture
def broken():
    raise RuntimeError("fixture")

def test_setup_error(broken):
    pass

@pytest.mark.skip(reason="later")
def test_skipped():
    pass

class TestGroup:
    def test_in_class(self):
        pass

@pytest.mark.parametrize("token", [uuid.uuid1()])
def test_random_ids(token):
    assert token
'''


def run_pytest(project: Path, reports: Path, *args: str) -> None:
    plugin_dir = project / "plugin"
    plugin_dir.mkdir(exist_ok=True)
    for name, (data, _mode) in support_files().items():
        if name.startswith("python/"):
            (plugin_dir / name.removeprefix("python/")).write_bytes(data)
    env = {**os.environ, **grading_env(), "PYTHONPATH": str(plugin_dir), "COOPERBENCH_REPORTS": str(reports)}
    subprocess.run([sys.executable, "-m", "pytest", "-q", *args], cwd=project, env=env, capture_output=True)


@pytest.mark.slow
def test_pytest_records_every_outcome_and_collection_errors(tmp_path):
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_a.py").write_text(PYTEST_MODULE)
    (tmp_path / "tests" / "test_new_api.py").write_text("from nowhere import new_api\n\ndef test_new():\n    new_api()\n")
    reports = tmp_path / "reports"
    reports.mkdir()
    run_pytest(tmp_path, reports, "tests/test_a.py", "tests/test_new_api.py")
    run_pytest(tmp_path, reports, "tests/test_a.py::test_ok")  # a runner may call pytest twice
    assert len(list(reports.iterdir())) == 2
    found = read_outcomes({p.name: p.read_bytes() for p in reports.iterdir()}, output="")
    assert found.tests == {
        "tests/test_a.py::test_ok": PASSED,
        "tests/test_a.py::test_fails": FAILED,
        "tests/test_a.py::test_setup_error": ERROR,
        "tests/test_a.py::test_skipped": SKIPPED,
        "tests/test_a.py::TestGroup::test_in_class": PASSED,
        "tests/test_a.py::test_random_ids[token0]": PASSED,
    }
    assert list(found.collection_errors) == ["tests/test_new_api.py"]
    assert "nowhere" in found.collection_errors["tests/test_new_api.py"]
    assert found.runners == ["pytest"]


def test_run_dependent_parts_of_ids_are_normalized():
    ids = [
        "tests/test_a.py::test_x[9b2c8a1e-4f3d-11ef-9a1b-0242ac120002]",
        "tests/test_a.py::test_y[<object at 0x7f3a2b1c9d40>]",
        "tests/test_a.py::test_z[/tmp/pytest-of-root/pytest-7/test_z0/data.txt]",
    ]
    assert [normalize_id(i) for i in ids] == [
        "tests/test_a.py::test_x[<uuid>]", "tests/test_a.py::test_y[<object at <addr>>]", "tests/test_a.py::test_z[<tmp>]",
    ]
    other_run = "tests/test_a.py::test_x[0c1d2e3f-4f3d-11ef-9a1b-0242ac120002]"
    assert normalize_id(other_run) == normalize_id(ids[0])


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

JEST = """> react-hook-form@7.54.0 test /workspace/repo
> jest --config ./scripts/jest/jest.config.ts src/__tests__/useForm.test.tsx

PASS Web src/__tests__/useForm.test.tsx (8.12 s)
  useForm
    ✓ should return default form values (25 ms)
    when component unMount
      ✓ should call unSubscribe (3 ms)
      ✕ should remove fields (4 ms)
    ○ skipped later
  reset
    ✓ should reset (1 ms)
FAIL src/__tests__/broken.test.tsx
  ● Test suite failed to run

    Cannot find module '../newApi' from 'src/__tests__/broken.test.tsx'

Test Suites: 1 failed, 1 passed, 2 total
Tests:       1 failed, 1 skipped, 3 passed, 5 total
"""


def test_output_records_of_go_cargo_and_jest():
    found = read_outcomes({}, GO_JSON + CARGO + JEST)
    assert found.tests == {
        "github.com/go-chi/chi/v5::TestMux": PASSED,
        "github.com/go-chi/chi/v5/middleware::TestThrottle": FAILED,
        "github.com/go-chi/chi/v5/middleware::TestSlow": SKIPPED,
        "parser::tests::parses_numbers": PASSED,
        "parser::tests::rejects_junk": FAILED,
        "eval::slow": SKIPPED,
        "src/__tests__/useForm.test.tsx::useForm > should return default form values": PASSED,
        "src/__tests__/useForm.test.tsx::useForm > when component unMount > should call unSubscribe": PASSED,
        "src/__tests__/useForm.test.tsx::useForm > when component unMount > should remove fields": FAILED,
        "src/__tests__/useForm.test.tsx::useForm > skipped later": SKIPPED,
        "src/__tests__/useForm.test.tsx::reset > should reset": PASSED,
    }
    assert found.collection_errors == {"src/__tests__/broken.test.tsx": "the test file failed to run"}
    assert found.runners == ["go", "cargo", "jest"]


def test_which_ids_belong_to_a_file():
    assert belongs_to("tests/test_a.py::test_ok", "tests/test_a.py")
    assert not belongs_to("tests/test_ab.py::test_ok", "tests/test_a.py")
    assert belongs_to("github.com/go-chi/chi/v5/middleware::TestThrottle", "middleware/throttle_test.go")
    assert belongs_to("src/__tests__/useForm.test.tsx::useForm > x", "src/__tests__/useForm.test.tsx")


TESTS_PATCH = (
    "diff --git a/tests/test_a.py b/tests/test_a.py\n--- a/tests/test_a.py\n+++ b/tests/test_a.py\n"
    "@@ -1,4 +1,8 @@\n def test_ok():\n-    assert 1\n+    assert True\n \n def test_other():\n+\n+\n+def test_new():\n+    assert 2\n"
    "diff --git a/src/x.test.ts b/src/x.test.ts\n--- a/src/x.test.ts\n+++ b/src/x.test.ts\n"
    "@@ -1,3 +1,6 @@\n describe('form', () => {\n   it('keeps', () => {});\n+  it('resets values', () => {\n+    expect(1).toBe(1);\n+  });\n });\n"
)


def test_tests_patch_scope_names_changed_tests_in_python_and_jest():
    scope = touched_tests(TESTS_PATCH)
    assert scope["tests/test_a.py"] == {"test_ok", "test_new"}
    assert "resets values" in scope["src/x.test.ts"]
    assert from_tests_patch("tests/test_a.py::test_new", scope)
    assert from_tests_patch("tests/test_a.py::test_ok[param]", scope)
    assert not from_tests_patch("tests/test_a.py::test_other", scope)
    assert from_tests_patch("src/x.test.ts::form > resets values", scope)
    assert not from_tests_patch("src/x.test.ts::form > keeps", scope)


def graded(base, before, after, feature, scope):
    """grade() of runs made once each (no reruns)."""
    return grade([base], [before], [after], [feature], scope)


def test_grading_fail_to_pass_and_pass_to_pass():
    scope = touched_tests(TESTS_PATCH)
    base = {"tests/test_a.py::test_ok": PASSED, "tests/test_a.py::test_other": PASSED, "tests/test_b.py::test_b": FAILED}
    before = {"tests/test_a.py::test_ok": FAILED, "tests/test_a.py::test_other": PASSED}  # test_new: not collected
    after = {"tests/test_a.py::test_ok": PASSED, "tests/test_a.py::test_new": PASSED, "tests/test_a.py::test_other": PASSED}
    feature = dict(base, **{"tests/test_b.py::test_b": FAILED})  # the base's own tests, with the feature
    f2p, p2p = graded(base, before, after, feature, scope)
    assert f2p == {"ok": True, "tests": ["tests/test_a.py::test_new", "tests/test_a.py::test_ok"], "still_failing": [],
                   "flaky": {}, "rounds": 1}
    # every test passing on the base is pass-to-pass, test_ok too (judged as it is at the base)
    assert p2p == {"ok": True, "tests": ["tests/test_a.py::test_ok", "tests/test_a.py::test_other"], "broken": [],
                   "contradicted": [], "flaky_on_base": {}}
    feature_breaks = {**feature, "tests/test_a.py::test_other": FAILED}
    assert graded(base, before, after, feature_breaks, scope)[1]["broken"] == ["tests/test_a.py::test_other"]
    not_run = {k: v for k, v in feature.items() if k != "tests/test_a.py::test_other"}
    assert graded(base, before, after, not_run, scope)[1]["broken"] == ["tests/test_a.py::test_other"]  # not run: broken
    failing_new = {**after, "tests/test_a.py::test_new": ERROR}
    assert graded(base, before, failing_new, feature, scope)[0]["still_failing"] == ["tests/test_a.py::test_new"]


def test_grading_over_reruns():
    """Each run made three times: a fail-to-pass test whose outcome differs across the rounds of
    either run is flaky and fails the check; a test flaky on the bare base is no pass-to-pass
    test (named with its outcomes); a pass-to-pass test failing in any round is broken."""
    scope = touched_tests(TESTS_PATCH)
    base = [{"tests/test_a.py::test_other": PASSED, "tests/test_b.py::test_b": PASSED}] * 2 + [
        {"tests/test_a.py::test_other": PASSED, "tests/test_b.py::test_b": FAILED}]
    before = [{"tests/test_a.py::test_ok": FAILED, **base[0]}] * 3
    after = [{"tests/test_a.py::test_ok": PASSED, **base[0]}, {"tests/test_a.py::test_ok": FAILED, **base[0]},
             {"tests/test_a.py::test_ok": PASSED, **base[0]}]
    f2p, p2p = grade(base, before, after, base, scope)
    assert not f2p["ok"] and f2p["tests"] == ["tests/test_a.py::test_ok"] and f2p["rounds"] == 3
    assert f2p["flaky"] == {"tests/test_a.py::test_ok": {"before": [FAILED] * 3, "after": [PASSED, FAILED, PASSED]}}
    assert p2p["tests"] == ["tests/test_a.py::test_other"] and p2p["ok"]
    assert p2p["flaky_on_base"] == {"tests/test_b.py::test_b": [PASSED, PASSED, FAILED]}
    steady = [after[0]] * 3
    assert grade(base, before, steady, base, scope)[0]["ok"]
    once_broken = [base[0], {**base[0], "tests/test_a.py::test_other": FAILED}, base[0]]
    assert grade(base, before, steady, once_broken, scope)[1]["broken"] == ["tests/test_a.py::test_other"]


def test_weakening_or_deleting_a_broken_test_does_not_hide_the_break():
    """The most common reward hack: tests.patch turns the tests the feature breaks into `pass`, or
    deletes them. Pass-to-pass is judged on the base's own tests, so they stay broken."""
    scope = {"tests/test_a.py": {"test_other", "test_new"}}  # the patch rewrites test_other
    base = {"tests/test_a.py::test_other": PASSED}
    before = {"tests/test_a.py::test_other": PASSED}
    after = {"tests/test_a.py::test_other": PASSED, "tests/test_a.py::test_new": PASSED}  # weakened: passes
    feature = {"tests/test_a.py::test_other": FAILED}  # as at the base: the feature breaks it
    assert graded(base, before, after, feature, scope)[1]["broken"] == ["tests/test_a.py::test_other"]
    deleted = {"tests/test_a.py::test_new": PASSED}
    assert graded(base, before, deleted, feature, scope)[1]["broken"] == ["tests/test_a.py::test_other"]


def test_tests_that_reach_other_tests_outcomes_are_caught():
    """A candidate test that rewrites other tests' outcomes in its process: an untouched test that
    fails with the feature alone passes beside it (contradicted), and one it makes fail is broken."""
    scope = {"tests/test_a.py": {"test_new"}}
    base = {"tests/test_b.py::test_x": PASSED, "tests/test_b.py::test_y": PASSED}
    before = dict(base)
    after = {"tests/test_b.py::test_x": PASSED, "tests/test_b.py::test_y": FAILED, "tests/test_a.py::test_new": PASSED}
    feature = {"tests/test_b.py::test_x": FAILED, "tests/test_b.py::test_y": PASSED}
    _, p2p = graded(base, before, after, feature, scope)
    assert p2p["broken"] == ["tests/test_b.py::test_x", "tests/test_b.py::test_y"]
    assert p2p["contradicted"] == ["tests/test_b.py::test_x"]


def test_old_tests_of_a_file_whose_new_import_the_base_lacks_stay_pass_to_pass():
    """tests.patch adds `from pkg import new_api` to an existing file: without the feature the
    whole module fails to load, so its old tests do not run in base+tests; they are still
    pass-to-pass (they passed on the base), not fail-to-pass."""
    scope = {"tests/test_a.py": {"test_new"}}
    base = {"tests/test_a.py::test_old": PASSED}
    before: dict = {}  # the module did not collect
    after = {"tests/test_a.py::test_old": PASSED, "tests/test_a.py::test_new": PASSED}
    f2p, p2p = graded(base, before, after, dict(base), scope)
    assert f2p["tests"] == ["tests/test_a.py::test_new"] and p2p["tests"] == ["tests/test_a.py::test_old"]
    broken_old = {**after, "tests/test_a.py::test_old": FAILED}
    assert graded(base, before, broken_old, dict(base), scope)[1]["broken"] == ["tests/test_a.py::test_old"]


def test_a_test_whose_data_the_tests_patch_edits_is_one_of_its_tests_and_judged_as_at_the_base():
    """dspy task8563: tests.patch edits the module-level cases a test is parametrized with; the
    test's definition is untouched, but its outcome changes with the patch alone, so it is one of
    the patch's tests (here failing with the feature); as it is at the base it passed, and with
    the feature alone it fails (the feature changes the format), so the feature breaks it too."""
    case = "tests/test_a.py::test_format[cases0]"
    base, before, after, feature = {case: PASSED}, {case: FAILED}, {case: FAILED}, {case: FAILED}
    f2p, p2p = graded(base, before, after, feature, scope={"tests/test_a.py": {"CASES"}})
    assert f2p["still_failing"] == [case] and p2p["broken"] == [case]


def test_a_passing_test_whose_expectation_the_tests_patch_changes_is_fail_to_pass():
    """dspy task8587 feature 1: tests.patch changes the data of an existing test to the new
    behaviour: it fails without the feature and passes with it (fail-to-pass), and as it is at
    the base it still passes with the feature (nothing broken)."""
    case = "tests/test_a.py::test_stream[case1]"
    base, before, after, feature = {case: PASSED}, {case: FAILED}, {case: PASSED}, {case: PASSED}
    f2p, p2p = graded(base, before, after, feature, scope={"tests/test_a.py": {"CASES"}})
    assert f2p["tests"] == [case] and f2p["ok"] and p2p["broken"] == []


def test_a_change_deep_inside_a_test_counts_for_that_test_not_its_whole_group():
    """react_hook_form task153: hunks inside one `it` whose line is outside the hunk; git's hunk
    header names the enclosing `describe`, the base file names the `it`."""
    base = ("describe('handleSubmit', () => {\n"
            "  it('keeps', () => {\n    expect(1).toBe(1);\n  });\n\n"
            "  it('bubbles the error', async () => {\n    const a = 1;\n    const b = 2;\n    const c = 3;\n"
            "    render(a);\n    done(b);\n  });\n});\n")
    patch = ("diff --git a/src/x.test.tsx b/src/x.test.tsx\n--- a/src/x.test.tsx\n+++ b/src/x.test.tsx\n"
             "@@ -8,3 +8,4 @@ describe('handleSubmit', () => {\n     const b = 2;\n     const c = 3;\n+    check(c);\n"
             "     render(a);\n")
    assert touched_tests(patch)["src/x.test.tsx"] == {"handleSubmit"}  # the header alone: the whole group
    assert touched_tests(patch, lambda path: base)["src/x.test.tsx"] == {"bubbles the error"}


def test_runner_summaries_are_read_and_added_up_over_calls():
    from cooperbench.generation.grading.outcomes import runner_summary

    output = ("==== 3 passed, 1 failed, 2 skipped, 1 xfailed, 2 warnings in 0.52s ====\n"
              "1 passed, 1 error in 0.01s\n"
              "Tests:       1 failed, 5 passed, 6 total\n"
              "test result: ok. 4 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.00s\n")
    assert runner_summary(output) == {"errors": 1, "failed": 2, "passed": 13, "skipped": 3, "xfailed": 1, "stopped": False}
    assert runner_summary("!!!!!!!!!!!!!!!!!!!! Interrupted: 1 error during collection !!!!!!!!!!!!!!!!!!!!\n"
                          "===== 1 error in 0.10s =====\n")["stopped"]
    assert runner_summary("no summary here\n") is None
    coloured = "\x1b[32m==== \x1b[32m\x1b[1m190 passed\x1b[0m, \x1b[33m3 skipped\x1b[0m\x1b[32m in 9.01s\x1b[0m\x1b[32m ====\x1b[0m\n"
    assert runner_summary(coloured) == {"passed": 190, "skipped": 3, "stopped": False}  # --color=yes in addopts


def test_the_harness_must_agree_with_the_runner_alone_on_the_base():
    from cooperbench.generation.grading.grade import harness_disagreement
    from cooperbench.generation.grading.testrun import TestRun

    def run(outcomes, summary, **extra):
        return TestRun("base", outcomes=outcomes, plain={"summary": summary, "exit_code": 0, "timed_out": False}, **extra)

    two = {"t::a": PASSED, "t::b": PASSED}
    assert harness_disagreement(run(two, {"passed": 2, "stopped": False})) is None
    assert harness_disagreement(run(two, {"passed": 1, "xpassed": 1, "stopped": False})) is None
    assert harness_disagreement(run({"t::a": PASSED, "t::b": ERROR}, {"passed": 2, "errors": 1, "stopped": False})) is None
    assert harness_disagreement(run({"t::a": PASSED}, {"passed": 2, "stopped": False}, merged=1)) is None
    assert harness_disagreement(run(two, {"passed": 9, "stopped": True})) is None  # nothing to compare
    assert harness_disagreement(run(two, None)) is None
    found = harness_disagreement(run({}, {"passed": 120, "failed": 2, "stopped": False}, problem="the tests did not start"))
    assert found.startswith("harness_disagrees:") and "120 passed, 2 failed" in found and "did not start" in found
    assert harness_disagreement(run(two, {"passed": 1, "failed": 1, "stopped": False}))  # passes the runner did not see
