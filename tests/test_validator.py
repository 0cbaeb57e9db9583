"""Validation end to end with the real local sandbox and the task's own runner.sh: every kind of
candidate ends in a verdict (or a one-line error), never a traceback or a leftover sandbox."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import pytest
from conftest import DEMO, ROOT, assert_one_line_error, default_sigint, run_cli

from cooperbench.generation import GenerationError, load_task
from cooperbench.generation.api import validate_generated_feature
from cooperbench.generation.core.layout import PARAMS_VARIABLE
from cooperbench.generation.grading import runcache
from cooperbench.generation.grading.grade import regrade
from cooperbench.generation.grading.screen import source_guard
from cooperbench.generation.schemas import ValidationSettings
from cooperbench.generation.tasks.environment import BASE_RUN_PATCH, EnvironmentFailure
from cooperbench.generation.tasks.task import resolve_repo, shipped_commit
from cooperbench.generation.validation.candidate import validate_candidate

CANDIDATES = ROOT / "tests" / "data" / "candidates"


def candidate(name: str) -> tuple[str, str]:
    return (CANDIDATES / name / "feature.patch").read_text(), (CANDIDATES / name / "tests.patch").read_text()


def validate(name: str, timeout: float = 120, task_dir=DEMO) -> dict:
    task = load_task(task_dir)
    return validate_candidate(task, *candidate(name), git_dir=resolve_repo(task), settings=ValidationSettings(timeout=timeout))


def ours(cache, pid: int | None = None) -> list[str]:
    """What this test left behind: sandbox folders of the process that made them (this one, or the
    CLI the test started; a folder is named by its owner's pid), and processes naming them. Other
    workers share the cache, so their sandboxes are not counted."""
    prefix = f"{pid or os.getpid()}-"
    folders = [p.name for p in (cache / "sandboxes").glob(prefix + "*")]
    procs = subprocess.run(["pgrep", "-af", str(cache / "sandboxes" / prefix)], capture_output=True, text=True).stdout
    return folders + [line for line in procs.splitlines() if "pgrep" not in line]


@pytest.mark.slow
def test_valid_candidate(isolated_cache):
    verdict = validate("valid")
    assert verdict["valid"], verdict["reasons"]
    assert verdict["reasons"] == [] and verdict["reason_keys"] == []
    checks = verdict["checks"]
    assert checks["fail_to_pass"]["tests"] == ["tests/test_config.py::test_none_and_empty_fallbacks_are_returned"]
    # every test of the bare base passes and stays passing; the runner's own selection of files
    assert len(checks["pass_to_pass"]["tests"]) == verdict["runs"]["base"]["counts"]["passed"] == 25
    assert checks["pass_to_pass"]["broken"] == []
    assert verdict["conflict_result"]["conflicts"] == [2, 3]
    assert verdict["runs"]["before"]["counts"] == {"failed": 1, "passed": 26}
    assert verdict["runs"]["after"]["runners"] == ["pytest"]
    assert {"bwrap", "cgroup_limits"} <= set(verdict["log"]["versions"])
    json.dumps(verdict)  # plain JSON
    assert ours(isolated_cache) == []


@pytest.mark.slow
def test_a_fail_to_pass_test_that_depends_on_the_order_is_flaky_and_not_valid():
    """A test that passes only after another new test of its file: the first run, in the
    repository's order, passes it; a rerun in a shuffled order fails it. Flaky, so not valid,
    with its outcome in each round; one run alone cannot see it."""
    verdict = validate("flaky")
    assert verdict["reason_keys"] == ["flaky_tests"], verdict["reasons"]
    flaky = verdict["checks"]["fail_to_pass"]["flaky"]
    test = "tests/test_config.py::test_none_and_empty_fallbacks_are_returned"
    assert list(flaky) == [test] and verdict["checks"]["fail_to_pass"]["rounds"] == 3
    assert flaky[test]["before"] == ["failed"] * 3 and flaky[test]["after"][0] == "passed" and "failed" in flaky[test]["after"]
    assert len(verdict["runs"]["after"]["rounds"]) == 2  # the reruns' outcomes are in the records
    task = load_task(DEMO)
    once = validate_candidate(task, *candidate("flaky"), git_dir=resolve_repo(task), settings=ValidationSettings(reruns=1))
    assert once["valid"], once["reasons"]


@pytest.mark.slow
def test_a_part_of_the_feature_no_test_needs_is_reported_and_refused_when_required():
    """Each file of feature.patch left out in turn (R2E-Gym's check): an exception class no test
    uses is unneeded; the verdict says so, and `require_needed` makes it invalid. A patch of one
    file is checked hunk by hunk: the valid candidate's third hunk (the shortcut's own default
    changed to the sentinel) is one no test needs, since the shortcut passes the test's
    fallback=None on to the method the first two hunks fix."""
    verdict = validate("unneeded_file")
    assert verdict["valid"], verdict["reasons"]
    assert verdict["checks"]["needed"]["unneeded"] == ["miniconf/errors.py"]
    task = load_task(DEMO)
    strict = validate_candidate(task, *candidate("unneeded_file"), git_dir=resolve_repo(task),
                                settings=ValidationSettings(require_needed=True))
    assert strict["reason_keys"] == ["unneeded_parts"] and "miniconf/errors.py" in strict["reasons"][0]
    whole = validate("valid")["checks"]["needed"]
    assert [p["part"] for p in whole["parts"]] == [f"miniconf/config.py hunk {i} of 3" for i in (1, 2, 3)]
    assert whole["unneeded"] == ["miniconf/config.py hunk 3 of 3"]
    skipped = validate_candidate(task, *candidate("unneeded_file"), git_dir=resolve_repo(task),
                                 settings=ValidationSettings(reruns=1, check_parts=False))
    assert skipped["valid"] and skipped["checks"]["needed"] == {}  # `check_parts: false` saves the runs
    with pytest.raises(ValueError, match="require_needed needs check_parts"):
        ValidationSettings(require_needed=True, check_parts=False)


def test_a_part_that_changes_documentation_only_is_not_run():
    """A hunk that changes a docstring or a comment and no code is `documentation`: no test
    could need it, and leaving it out is not what the check measures."""
    from cooperbench.generation.patches import diffs
    from cooperbench.generation.util.syntax import code_of

    assert code_of('def f():\n    """Old."""\n    return 1  # one\n') == code_of('def f():\n    """New."""\n\n    return 1\n')
    assert code_of("def f():\n    return 1\n") != code_of("def f():\n    return 2\n")
    assert code_of("def f(:\n") is None
    patch = (CANDIDATES / "valid" / "feature.patch").read_text()
    names = [name for name, _, _ in diffs.parts(diffs.parse_diff(patch, "feature.patch"))]
    assert names == [f"miniconf/config.py hunk {i} of 3" for i in (1, 2, 3)]


def test_a_test_flaky_on_the_bare_base_is_left_out_of_pass_to_pass_and_named(demo_copy, tmp_path):
    """A repository whose own test passes only after another (in the order the runner gives):
    reruns in shuffled orders fail it on the bare base, so it is no pass-to-pass test of any
    feature, the reason kept in the verdict, and check-dataset names it."""
    runner = demo_copy / "runner.sh"
    order_dependent = "SEEN = []\n" + "".join(f"\ndef test_{c}():\n    SEEN.append(1)\n" for c in "abcde") + (
        "\ndef test_z():\n    assert len(SEEN) == 5\n")
    runner.write_text(runner.read_text().replace("pip install -e", f"cat > tests/test_order.py <<'PY'\n{order_dependent}PY\npip install -e")
                      .replace("tests/test_writer.py -v", "tests/test_writer.py tests/test_order.py -v"))
    task = load_task(demo_copy)
    from cooperbench.generation.validation.selfcheck import check_feature
    verdict = check_feature(task, 1, resolve_repo(task), ValidationSettings())
    assert verdict["valid"], verdict["reasons"]
    on_base = verdict["checks"]["pass_to_pass"]["flaky_on_base"]
    assert list(on_base) == ["tests/test_order.py::test_z"] and on_base["tests/test_order.py::test_z"][0] == "passed"
    assert "tests/test_order.py::test_a" in verdict["checks"]["pass_to_pass"]["tests"]
    assert "tests/test_order.py::test_z" not in verdict["checks"]["pass_to_pass"]["tests"]
    proc = run_cli("check-dataset", str(demo_copy), "--features", "1")
    assert proc.returncode == 0, proc.stderr
    assert "miniconf_task/task1: flaky on the bare base (left out of pass-to-pass): tests/test_order.py::test_z" in proc.stdout


@pytest.mark.parametrize("name", ["valid", "breaks_old_test", "not_fail_to_pass"])
def test_a_verdict_regrades_from_its_own_records(name):
    """Grading is apart from running: the verdict is made again from its runs and scope alone,
    with no sandbox, and comes out the same; a run record changed by hand changes it."""
    verdict = validate(name)
    verdict.pop("log")
    assert regrade(json.loads(json.dumps(verdict))) == verdict
    if name == "valid":
        kept = verdict["checks"]["pass_to_pass"]["tests"][0]
        edited = json.loads(json.dumps(verdict))
        edited["runs"]["feature"]["outcomes"][kept] = "failed"
        for run in edited["runs"].values():  # the summaries pytest printed change with the outcomes
            run["summary"] = None
        again = regrade(edited)  # failing alone, passing beside the candidate's tests
        assert not again["valid"] and again["reason_keys"] == ["breaks_tests", "tests_interfere"]
        edited["runs"]["after"]["outcomes"][kept] = "failed"
        again = regrade(edited)
        assert again["reason_keys"] == ["breaks_tests"] and again["checks"]["pass_to_pass"]["broken"] == [kept]


def test_tests_that_pass_without_the_feature():
    verdict = validate("not_fail_to_pass")
    assert verdict["reason_keys"] == ["no_fail_to_pass"]


def test_feature_that_breaks_an_old_test():
    verdict = validate("breaks_old_test")
    broken = verdict["checks"]["pass_to_pass"]["broken"]
    assert "tests/test_parser.py::test_values_are_stripped_strings" in broken
    assert "breaks_tests" in verdict["reason_keys"]
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
    assert verdict["reasons"][0].startswith("feature.patch cannot be applied to the base: ")
    assert verdict["runs"] == {}  # nothing is run for a candidate that does not apply


@pytest.mark.slow
def test_a_copy_of_an_existing_feature_and_a_renamed_copy():
    task = load_task(DEMO)
    f = task.feature(3)
    verdict = validate_candidate(task, f.feature_patch, f.tests_patch, git_dir=resolve_repo(task))
    assert "the feature is a copy of feature3 (the same change)" in verdict["reasons"]
    renamed = f.feature_patch
    for old, new in (("_lookup", "_find"), ("_expand", "_resolve"), ("REFERENCE_RE", "REF_PATTERN"),
                     ("MAX_DEPTH", "DEPTH_LIMIT"), ("depth", "level")):
        renamed = re.sub(rf"\b{old}\b", new, renamed)
    assert renamed != f.feature_patch
    verdict = validate_candidate(task, renamed, f.tests_patch, git_dir=resolve_repo(task))
    assert verdict["conflict_result"]["copy_of"] == 3
    assert any("copy of feature3 with names changed" in r for r in verdict["reasons"])


def test_a_candidate_that_changes_the_test_harness_is_refused():
    feature, tests = candidate("valid")
    conftest = ("diff --git a/tests/conftest.py b/tests/conftest.py\nnew file mode 100644\nindex 0000000..1111111\n"
                "--- /dev/null\n+++ b/tests/conftest.py\n@@ -0,0 +1,2 @@\n+def pytest_sessionfinish(session):\n+    pass\n")
    task = load_task(DEMO)
    verdict = validate_candidate(task, feature, tests + conftest, git_dir=resolve_repo(task))
    assert verdict["reason_keys"] == ["changes_harness"]
    assert "tests/conftest.py" in verdict["reasons"][0]
    assert verdict["runs"] == {}


def test_test_that_tries_the_network_fails_inside():
    verdict = validate("network")
    assert verdict["checks"]["fail_to_pass"]["still_failing"] == ["tests/test_config.py::test_reaches_the_package_index"]


@pytest.mark.slow
def test_hanging_test_run_is_killed_at_the_limit(isolated_cache):
    verdict = validate("hangs", timeout=5)
    assert "timeout: the after test run passed the 5 s limit" in verdict["reasons"]
    assert verdict["runs"]["after"]["timed_out"]
    assert ours(isolated_cache) == []
    task = load_task(DEMO)
    feature, tests = candidate("hangs")
    settings, git_dir = ValidationSettings(timeout=5), resolve_repo(task)
    guard = source_guard(task, git_dir, feature, "feature.patch")
    after = runcache.run_key(task, git_dir, settings, [("tests.patch", tests), ("feature.patch", feature)], guard, task.network)
    alone = runcache.run_key(task, git_dir, settings, [("base-tests.patch", BASE_RUN_PATCH), ("feature.patch", feature)],
                             guard, task.network)
    assert runcache.lookup(after, "after") is None  # a run that timed out is not kept: the load may have made it
    assert runcache.lookup(alone, "feature")[0].outcomes == verdict["runs"]["feature"]["outcomes"]


def test_a_kept_run_serves_any_timeout_it_finished_within(isolated_cache):
    """The agent's cooperbench-verify (its command timeout) and the verdict (validation.timeout)
    share a run that finished within both; a shorter timeout than the run took runs it again."""
    from cooperbench.generation.grading.testrun import TestRun

    task = load_task(DEMO)
    patches = [("tests.patch", "a test")]
    key = lambda timeout: runcache.run_key(task, resolve_repo(task), ValidationSettings(timeout=timeout), patches, None, False)
    assert key(60).digest == key(300).digest
    runcache.keep(key(300), TestRun(label="after", timeout=300, outcomes={"t": "passed"}, duration=42.0), {})
    found, _ = runcache.lookup(key(60), "before")
    assert (found.label, found.timeout, found.outcomes) == ("before", 60, {"t": "passed"})
    assert runcache.lookup(key(30), "before") is None  # it took 42 s: under 30 s it may have timed out


@pytest.mark.slow
@pytest.mark.parametrize("lost", ["once", "every time"])
def test_a_run_whose_echo_is_lost_is_run_once_more(monkeypatch, lost):
    """The docker daemon has lost exec output under load (docker-py#2042), which reads as a
    rewritten report: such a run is run again in a fresh sandbox and the second is the one judged.
    Output lost every time, as a rewrite by the tests themselves would be, stays tampered. The
    sandbox is the real local one; only the loss is made here, on its output."""
    from contextlib import contextmanager
    from dataclasses import replace

    from cooperbench.generation.grading.outcomes import ECHO_PREFIX

    real, opened = runcache.open_sandbox, []

    @contextmanager
    def losing_echo(*args, **kwargs):
        with real(*args, **kwargs) as sandbox:
            opened.append(sandbox)
            if lost == "every time" or len(opened) == 1:
                run = sandbox.run

                def lossy(command, **options):
                    result = run(command, **options)
                    kept = [line for line in result.stdout.splitlines(True) if not line.startswith(ECHO_PREFIX)]
                    return replace(result, stdout="".join(kept))

                sandbox.run = lossy
            yield sandbox

    monkeypatch.setattr(runcache, "open_sandbox", losing_echo)
    task = load_task(DEMO)
    run, _ = runcache.fresh_run(task, resolve_repo(task), ValidationSettings(), [("tests.patch", BASE_RUN_PATCH)], "base")
    assert len(opened) == 2 and len(run.outcomes) == 25
    assert bool(run.tampered) == (lost == "every time")


@pytest.mark.slow
def test_runs_are_kept_across_processes(tmp_path):
    """A second validation of the same candidate, in a new process, starts no sandbox: every run
    (base, before, after, feature, the conflicting features' own runs and the union merges') is
    found under its key, down to the time each took the first time. (A cache of its own: other
    tests' runs would land in a shared one meanwhile.)"""
    cache = tmp_path / "cache"
    args = ["validate", "miniconf_task/task1", *(str(CANDIDATES / "valid" / name) for name in ("feature.patch", "tests.patch"))]
    assert run_cli(*args, "--out", str(tmp_path / "first.json"), COOPERBENCH_CACHE=str(cache)).returncode == 0
    kept = sorted((cache / "runs").iterdir())
    assert run_cli(*args, "--out", str(tmp_path / "second.json"), COOPERBENCH_CACHE=str(cache)).returncode == 0
    first, second = (json.loads((tmp_path / name).read_text()) for name in ("first.json", "second.json"))
    assert sorted((cache / "runs").iterdir()) == kept and len(kept) >= 4 + 2 + 2
    assert first["log"]["runs"] == second["log"]["runs"]
    first.pop("log"), second.pop("log")
    assert first == second


@pytest.mark.slow
def test_collection_errors_do_not_empty_the_run(demo_copy):
    """The feature's own test module imports the new API: before the feature it cannot even be
    collected, which is 'did not pass', not 'no test ran'; the rest of the suite still counts."""
    runner = demo_copy / "runner.sh"
    runner.write_text(runner.read_text().replace(
        "python -m pytest tests/test_parser.py tests/test_config.py tests/test_writer.py -v", "python -m pytest tests -v"))
    feature, _ = candidate("valid")
    tests = ("diff --git a/tests/test_fallbacks.py b/tests/test_fallbacks.py\nnew file mode 100644\nindex 0000000..1111111\n"
             "--- /dev/null\n+++ b/tests/test_fallbacks.py\n@@ -0,0 +1,6 @@\n+from miniconf.config import _MISSING\n+\n+\n"
             "+def test_missing_marker_is_private():\n+    assert _MISSING is not None\n+\n")
    task = load_task(demo_copy)
    verdict = validate_candidate(task, feature, tests, git_dir=resolve_repo(task))
    assert verdict["valid"], verdict["reasons"]
    assert list(verdict["runs"]["before"]["collection_errors"]) == ["tests/test_fallbacks.py"]
    assert verdict["runs"]["before"]["counts"]["passed"] == 25
    assert verdict["checks"]["fail_to_pass"]["tests"] == ["tests/test_fallbacks.py::test_missing_marker_is_private"]


@pytest.mark.slow
def test_a_runner_that_cannot_run_here_is_an_environment_failure(demo_copy):
    runner = demo_copy / "runner.sh"
    runner.write_text(runner.read_text() + "gotestsum --format dots ./...\n")
    proc = run_cli("validate", str(demo_copy), str(CANDIDATES / "valid" / "feature.patch"),
                   str(CANDIDATES / "valid" / "tests.patch"))
    assert_one_line_error(proc, "missing toolchain or tool: gotestsum", "exit 127")


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


@pytest.mark.slow
def test_seed_flag_and_api():
    proc = run_cli("--task", "miniconf_task/task1", "--validate", str(CANDIDATES / "no_conflict" / "feature.patch"),
                   str(CANDIDATES / "no_conflict" / "tests.patch"))
    assert proc.returncode == 0, proc.stderr
    assert "INVALID" in proc.stdout and "conflicts with no existing feature" in proc.stdout
    feature, tests = candidate("valid")
    validation = validate_generated_feature("miniconf_task", 1, feature, tests, dataset_root=ROOT / "dataset")
    assert validation["valid"]
    assert validation["conflict_result"]["conflicts"] == [2, 3]


@pytest.mark.slow
def test_every_demo_feature_against_the_rest_of_its_task(tmp_path):
    """Every feature's tests pass with it; durations' feature 4 was written to conflict with
    nothing (README), and feature 3 changes what an existing test expects (negative spans could
    not be formatted), which its tests.patch rewrites: judged on the base's own tests, it breaks
    that test, so neither is valid as a new feature."""
    proc = run_cli("check-dataset", "dataset", "--json", str(tmp_path / "rows.json"))
    assert proc.returncode == 0, proc.stderr
    rows = json.loads((tmp_path / "rows.json").read_text())
    assert len(rows) == 10 and all(r["fail_to_pass"] > 0 for r in rows)
    invalid = [(r["task"], r["feature"], r["detail"]) for r in rows if r["outcome"] != "valid"]
    assert [(task, feature) for task, feature, _ in invalid] == [("durations_task/task1", 3), ("durations_task/task1", 4)]
    assert "test_negative_cannot_be_formatted" in invalid[0][2] and "tests.patch rewrites 1 of them" in invalid[0][2]
    assert invalid[1][2] == "conflicts with no existing feature"
    assert proc.stdout.strip().splitlines()[-1] == "10 features: 8 valid, 2 invalid, 0 environment, 0 harness_disagrees, 0 error"


@pytest.mark.slow
def test_ctrl_c_leaves_nothing_behind(tmp_path, isolated_cache):
    proc = subprocess.Popen(
        [sys.executable, "-m", "cooperbench.generation", "validate", "miniconf_task/task1",
         str(CANDIDATES / "hangs" / "feature.patch"), str(CANDIDATES / "hangs" / "tests.patch"),
         "--timeout", "120", "--out", str(tmp_path / "v.json")],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=default_sigint,
    )
    try:
        deadline = time.monotonic() + 120
        while not any((isolated_cache / "sandboxes").glob(f"{proc.pid}-*/patches/feature.patch")):  # its own runs, about to start
            assert time.monotonic() < deadline and proc.poll() is None, "the test run never started"
            time.sleep(0.2)
        time.sleep(1)
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert ours(isolated_cache, proc.pid) == []
    assert not (tmp_path / "v.json").exists()


@pytest.mark.slow
def test_a_base_on_which_every_test_errors_is_an_environment_failure_naming_the_host(demo_copy):
    """Fixtures that fetch a model from a hub error in every test here: that is no base to grade
    against, and the failure says which host could not be reached."""
    (demo_copy / "repo" / "tests" / "conftest.py").write_text(
        "import pytest\n\n\n@pytest.fixture(autouse=True)\ndef model():\n"
        "    raise OSError(\"HTTPSConnectionPool(host='huggingface.co', port=443): Max retries exceeded\")\n")
    setup = demo_copy / "setup.sh"
    setup.write_text(re.sub(r"BASE_COMMIT=\w+", f"BASE_COMMIT={shipped_commit(demo_copy)}", setup.read_text()))
    task = load_task(demo_copy)
    feature, tests = candidate("valid")
    with pytest.raises(EnvironmentFailure, match="every test errors on the bare base commit .*huggingface.co cannot be reached"):
        validate_candidate(task, feature, tests, git_dir=resolve_repo(task))


def test_one_broken_task_costs_check_dataset_only_its_own_rows(demo_copy, tmp_path):
    """A task that breaks for any reason (here: no runner.sh, nothing says how its tests run) gets
    an error row; the other tasks' rows still come out."""
    broken = demo_copy.parent / "task2"
    shutil.copytree(demo_copy, broken)
    (broken / "runner.sh").unlink()
    proc = run_cli("check-dataset", str(demo_copy.parents[1]), "--features", "1", "--json", str(tmp_path / "rows.json"))
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    rows = {(r["task"], r["feature"]): r for r in json.loads((tmp_path / "rows.json").read_text())}
    assert rows[("miniconf_task/task1", 1)]["outcome"] == "valid"
    assert rows[("miniconf_task/task2", 1)]["outcome"] == "error" and "no runner.sh" in rows[("miniconf_task/task2", 1)]["detail"]


def test_the_rule_decides_which_conflicts_count():
    """`require: hard`: a feature whose every conflict git's union merge already resolves is not
    valid; one with a hard conflict is. The classes are in the verdict whatever the rule, so a
    change of rule regrades with no run (grade.apply_rule)."""
    from cooperbench.generation.grading.grade import apply_rule
    from cooperbench.generation.validation.selfcheck import check_feature

    task = load_task(DEMO)
    trivial_only = check_feature(task, 2, resolve_repo(task), ValidationSettings(require="hard"))
    assert not trivial_only["valid"] and trivial_only["reason_keys"] == ["no_hard_conflict"]
    assert [(p["feature"], p["class"]) for p in trivial_only["conflict_result"]["pairs"] if p.get("class")] == [(3, "trivial")]
    assert apply_rule(trivial_only, "conflict")["valid"] and apply_rule(trivial_only, "conflict")["require"] == "conflict"
    with_hard = check_feature(task, 1, resolve_repo(task), ValidationSettings(require="hard"))
    assert with_hard["valid"], with_hard["reasons"]
    assert not apply_rule(with_hard, "solvable")["valid"]  # nothing resolved yet
    assert apply_rule(with_hard, "solvable")["reason_keys"] == ["no_solved_conflict"]


def test_the_api_finds_a_tasks_clone_in_the_projects_params(tmp_path, monkeypatch):
    """Run from a project folder, validate_generated_feature uses the clone params.yaml's `repos:`
    names for the task, as the pipeline does, and an error names no CLI flag."""
    (tmp_path / "params.yaml").write_text(
        "tasks: [miniconf_task/task1]\nmodels: {m: {name: replay/x}}\nattempts: 1\n"
        f"repos: {{miniconf_task/task1: {tmp_path / 'no-such-clone'}}}\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(PARAMS_VARIABLE)  # the session names no params file; a project's own is read
    feature, tests = candidate("valid")
    with pytest.raises(GenerationError, match="no-such-clone: no such repository folder"):
        validate_generated_feature("miniconf_task", 1, feature, tests, dataset_root=ROOT / "dataset")
