"""Validation end to end with the real local sandbox: every kind of candidate ends in a verdict
(or a one-line error), never a traceback or a leftover sandbox."""

from __future__ import annotations

import glob
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

import pytest

from conftest import DEMO, ROOT, assert_one_line_error, run_cli
from cooperbench.generation import load_task
from cooperbench.generation.validator import ValidationSettings, validate_candidate, validate_generated_feature
from cooperbench.generation.task import resolve_repo

CANDIDATES = ROOT / "tests" / "data" / "candidates"


def candidate(name: str) -> tuple[str, str]:
    return (CANDIDATES / name / "feature.patch").read_text(), (CANDIDATES / name / "tests.patch").read_text()


def validate(name: str, timeout: float = 120) -> dict:
    task = load_task(DEMO)
    return validate_candidate(task, *candidate(name), git_dir=resolve_repo(task), settings=ValidationSettings(timeout=timeout))


def leftovers() -> tuple[set[str], str]:
    dirs = set(glob.glob(os.path.join(tempfile.gettempdir(), "cb-sandbox-*")))
    # zombies (state Z) are already dead; this machine's PID 1 reaps orphans lazily
    procs = subprocess.run(["ps", "-eo", "pid,stat,comm"], capture_output=True, text=True).stdout
    return dirs, {line for line in procs.splitlines() if "bwrap" in line and line.split()[1][0] != "Z"}


def test_valid_candidate():
    verdict = validate("valid")
    assert verdict["valid"], verdict["reasons"]
    assert verdict["reasons"] == []
    checks = verdict["checks"]
    assert checks["fail_to_pass"]["tests"] == ["tests/test_config.py::test_none_and_empty_fallbacks_are_returned"]
    assert len(checks["pass_to_pass"]["tests"]) == 26 and checks["pass_to_pass"]["broken"] == []
    assert verdict["conflict_result"]["conflicts"] == [2, 3]
    assert verdict["runs"]["before"]["counts"] == {"passed": 26, "failed": 1}
    assert {"cooperbench-generation", "python", "git", "bwrap"} <= set(verdict["versions"])
    json.dumps(verdict)  # the verdict is plain JSON


def test_tests_that_pass_without_the_feature():
    verdict = validate("not_fail_to_pass")
    assert not verdict["valid"]
    assert verdict["reasons"] == ["no fail-to-pass test: no test of tests.patch fails without the feature and passes with it"]


def test_feature_that_breaks_an_old_test():
    verdict = validate("breaks_old_test")
    broken = verdict["checks"]["pass_to_pass"]["broken"]
    assert "tests/test_parser.py::test_values_are_stripped_strings" in broken
    assert any(r.startswith("breaks tests that passed before") for r in verdict["reasons"])
    # its own new test is fail-to-pass; the old tests of the same file are not counted as its
    assert verdict["checks"]["fail_to_pass"]["tests"] == ["tests/test_parser.py::test_colon_is_not_a_delimiter"]


def test_no_conflict_with_any_feature():
    verdict = validate("no_conflict")
    assert verdict["reasons"] == ["conflicts with no existing feature"]
    assert verdict["checks"]["fail_to_pass"]["ok"]


def test_patches_that_do_not_apply():
    task = load_task(DEMO)
    feature, tests = candidate("valid")
    broken = feature.replace("         key = self._normalize(key)\n", "         key = key.lower()\n")
    verdict = validate_candidate(task, broken, tests, git_dir=resolve_repo(task))
    assert not verdict["valid"]
    assert verdict["reasons"][0].startswith("feature.patch cannot be applied to the base: ")
    assert verdict["runs"] == {}  # nothing is run for a candidate that does not apply


def test_a_copy_of_an_existing_feature():
    task = load_task(DEMO)
    f = task.feature(3)
    verdict = validate_candidate(task, f.feature_patch, f.tests_patch, git_dir=resolve_repo(task))
    assert verdict["reasons"] == ["the feature is a copy of feature3"]


def test_test_that_tries_the_network_fails_inside():
    verdict = validate("network")
    assert verdict["checks"]["fail_to_pass"]["still_failing"] == ["tests/test_config.py::test_reaches_the_package_index"]


def test_hanging_test_run_is_killed_at_the_limit():
    before = leftovers()
    started = time.monotonic()
    verdict = validate("hangs", timeout=3)
    assert time.monotonic() - started < 15
    assert "timeout: the after test run passed the 3 s limit" in verdict["reasons"]
    assert verdict["runs"]["after"]["timed_out"]
    assert leftovers() == before


@pytest.mark.parametrize("path", ["../x", "/etc/passwd", ".git/config"])
def test_unsafe_paths_are_a_one_line_error(tmp_path, path):
    patch = tmp_path / "f.patch"
    patch.write_text(f"diff --git a/{path} b/{path}\n--- a/{path}\n+++ b/{path}\n@@ -1 +1 @@\n-a\n+b\n")
    tests = CANDIDATES / "valid" / "tests.patch"
    proc = run_cli("validate", "miniconf_task/task1", str(patch), str(tests), "--out", str(tmp_path / "v.json"))
    assert_one_line_error(proc, "feature.patch")
    assert not (tmp_path / "v.json").exists()


def test_validate_cli_writes_the_verdict(tmp_path):
    out = tmp_path / "verdict.json"
    proc = run_cli("validate", "miniconf_task/task1", str(CANDIDATES / "valid" / "feature.patch"),
                   str(CANDIDATES / "valid" / "tests.patch"), "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("VALID  miniconf_task/task1")
    assert json.loads(out.read_text())["valid"] is True


def test_seed_flag_and_api(tmp_path):
    proc = run_cli("--task", "miniconf_task/task1", "--validate", str(CANDIDATES / "no_conflict" / "feature.patch"),
                   str(CANDIDATES / "no_conflict" / "tests.patch"))
    assert proc.returncode == 0, proc.stderr
    assert "INVALID" in proc.stdout and "conflicts with no existing feature" in proc.stdout
    feature, tests = candidate("valid")
    validation = validate_generated_feature("miniconf_task", 1, feature, tests, dataset_root=ROOT / "dataset")
    assert validation["valid"]
    assert validation["conflict_result"]["conflicts"] == [2, 3]


def test_ctrl_c_leaves_nothing_behind(tmp_path):
    before = leftovers()
    proc = subprocess.Popen(
        [sys.executable, "-m", "cooperbench.generation", "validate", "miniconf_task/task1",
         str(CANDIDATES / "hangs" / "feature.patch"), str(CANDIDATES / "hangs" / "tests.patch"),
         "--timeout", "60", "--out", str(tmp_path / "v.json")],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while "junitxml=/tmp/after-report.xml" not in subprocess.run(["pgrep", "-af", "pytest"], capture_output=True, text=True).stdout:
            assert time.monotonic() < deadline, "the test run never started"
            time.sleep(0.2)
        time.sleep(1)
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=20)
    finally:
        proc.kill()
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert leftovers() == before
    assert not (tmp_path / "v.json").exists()
