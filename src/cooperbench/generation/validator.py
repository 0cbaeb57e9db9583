"""Is a candidate feature valid? The verdict, with every check's evidence.

A candidate (feature.patch, tests.patch) is valid when (see README, "Validity"):
  1. both patches apply to the base; the source patch is not empty and touches no test file;
  2. fail-to-pass: a test that tests.patch adds or changes fails on base+tests and passes on
     base+feature+tests (at least one; none of tests.patch's tests may fail with the feature);
  3. pass-to-pass: every test that passes on base+tests still passes with the feature;
  4. it conflicts with at least one existing feature (source patches, git's merge);
  5. it is no copy of an existing feature (same resulting tree).
Outcomes come per test id from the runner's structured report, in two sandboxes run in parallel.
"""

from __future__ import annotations

import json
import platform
import re
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from cooperbench.generation import atomic, conflicts, diffs
from cooperbench.generation.errors import GenerationError
from cooperbench.generation.gitutil import patch_applies
from cooperbench.generation.reports import PASSED, RUNNERS, belongs_to, parse_report
from cooperbench.generation.sandbox import Sandbox, open_sandbox
from cooperbench.generation.sandbox.base import SCRATCH_DIR
from cooperbench.generation.task import Task, load_task, resolve_repo


APPLY_NAMES = {"feature_patch": "feature.patch", "tests_patch": "tests.patch", "together": "the two patches together"}


@dataclass(frozen=True)
class ValidationSettings:
    backend: str = "local"
    timeout: float = 300.0  # seconds, per test run


@dataclass
class TestRun:
    label: str
    outcomes: dict[str, str] = field(default_factory=dict)
    exit_code: int | None = None
    timed_out: bool = False
    duration: float = 0.0
    error: str | None = None
    output_tail: str = ""

    def summary(self) -> dict:
        counts: dict[str, int] = {}
        for outcome in self.outcomes.values():
            counts[outcome] = counts.get(outcome, 0) + 1
        data = asdict(self)
        data.pop("outcomes")
        data["counts"] = counts
        return data


def files_to_test(task: Task, tests_patch: str) -> list[str]:
    """The task's test files plus those tests.patch adds or changes (deleted ones left out)."""
    touched = [f.path for f in diffs.parse_diff(tests_patch, "tests.patch") if f.status != "deleted"]
    declared = list(task.tests.files) if task.tests else []
    return list(dict.fromkeys(declared + touched)) if declared else []


def run_tests(sandbox: Sandbox, task: Task, patches: list[tuple[str, str]], files: list[str], label: str, timeout: float) -> TestRun:
    """Apply `patches` in order inside `sandbox`, run the task's tests, read the report."""
    run = TestRun(label)
    for name, patch in patches:
        error = sandbox.apply_patch(patch)
        if error:
            run.error = f"{name} does not apply in the sandbox: {error}"
            return run
    runner = RUNNERS[task.tests.framework]
    report = f"{SCRATCH_DIR}/{label}-{runner.report_name}"
    result = sandbox.run(runner.command(files, report), timeout=timeout)
    run.exit_code, run.timed_out, run.duration = result.exit_code, result.timed_out, round(result.duration, 3)
    run.output_tail = (result.stdout + result.stderr)[-2000:]
    try:
        run.outcomes = parse_report(task.tests.framework, sandbox.read_file(report))
    except (OSError, GenerationError):
        run.outcomes = {}
    if not run.outcomes and not run.timed_out:
        run.error = "the test run wrote no report (the tests could not start)"
    return run


def tool_versions(sandbox_versions: dict[str, str]) -> dict[str, str]:
    try:
        own = version("cooperbench-generation")
    except PackageNotFoundError:
        own = "unknown"
    versions = {
        "cooperbench-generation": own,
        "python": platform.python_version(),
        "git": subprocess.run(["git", "--version"], capture_output=True, text=True).stdout.strip(),
    }
    return {**versions, **sandbox_versions}


def validate_candidate(
    task: Task,
    feature_patch: str,
    tests_patch: str,
    *,
    git_dir: Path,
    settings: ValidationSettings = ValidationSettings(),
) -> dict:
    """The verdict on one candidate, as a JSON-ready dict."""
    if task.tests is None:
        raise GenerationError(f"{task.path}: no test command (no runner.sh to read; add `tests:` to task.yaml)")
    started = time.monotonic()
    timings: dict[str, float] = {}
    reasons: list[str] = []

    feature_files = diffs.parse_diff(feature_patch, "feature.patch")
    test_file_diffs = diffs.parse_diff(tests_patch, "tests.patch")
    static = {
        "feature_patch_files": [f.path for f in feature_files],
        "tests_patch_files": [f.path for f in test_file_diffs],
        "feature_touches_tests": [f.path for f in feature_files if diffs.is_test_path(f.path, task.test_patterns)],
    }
    if not feature_files:
        reasons.append("feature.patch is empty")
    if not test_file_diffs:
        reasons.append("tests.patch is empty")
    if static["feature_touches_tests"]:
        reasons.append(f"feature.patch changes test files: {', '.join(static['feature_touches_tests'])}")
    static_ok = not reasons

    mark = time.monotonic()
    applies = {
        "feature_patch": patch_applies(git_dir, task.base_commit, feature_patch) if feature_files else "empty",
        "tests_patch": patch_applies(git_dir, task.base_commit, tests_patch) if test_file_diffs else "empty",
    }
    if applies["feature_patch"] is None and applies["tests_patch"] is None:
        applies["together"] = patch_applies(git_dir, task.base_commit, tests_patch + feature_patch)
    for name, error in applies.items():
        if error and error != "empty":
            reasons.append(f"{APPLY_NAMES[name]} cannot be applied to the base: {error}")
    applies_ok = all(error is None for error in applies.values())
    timings["applies"] = time.monotonic() - mark

    mark = time.monotonic()
    conflict_result = {"conflicts": [], "pairs": [], "copy_of": None}
    if applies["feature_patch"] is None:
        conflict_result = conflicts.candidate_conflicts(task, git_dir, feature_patch)
        if conflict_result["copy_of"] is not None:
            reasons.append(f"the feature is a copy of feature{conflict_result['copy_of']}")
        if not conflict_result["conflicts"]:
            reasons.append("conflicts with no existing feature")
    timings["conflicts"] = time.monotonic() - mark

    fail_to_pass: dict = {"ok": False, "tests": [], "still_failing": []}
    pass_to_pass: dict = {"ok": False, "tests": [], "broken": []}
    runs: dict[str, dict] = {}
    sandbox_versions: dict[str, str] = {}
    if applies_ok:
        before, after, sandbox_versions = run_both(task, git_dir, feature_patch, tests_patch, settings)
        runs = {"before": before.summary(), "after": after.summary()}
        timings["tests"] = max(before.duration, after.duration)
        for run in (before, after):
            if run.timed_out:
                reasons.append(f"timeout: the {run.label} test run passed the {settings.timeout:g} s limit")
            elif run.error:
                reasons.append(f"{run.label} run: {run.error}")
        if not any(r.timed_out or r.error for r in (before, after)):
            fail_to_pass, pass_to_pass = grade(before, after, touched_tests(test_file_diffs))
            if not fail_to_pass["tests"]:
                reasons.append("no fail-to-pass test: no test of tests.patch fails without the feature and passes with it")
            if fail_to_pass["still_failing"]:
                reasons.append(f"tests of tests.patch fail with the feature: {', '.join(fail_to_pass['still_failing'][:5])}")
            if pass_to_pass["broken"]:
                reasons.append(f"breaks tests that passed before: {', '.join(pass_to_pass['broken'][:5])}")

    timings["total"] = time.monotonic() - started
    verdict = verdict_skeleton(task, reasons, settings.backend)
    verdict["checks"] = {
        "static": {"ok": static_ok, **static},
        "applies": {"ok": applies_ok, **applies},
        "fail_to_pass": fail_to_pass,
        "pass_to_pass": pass_to_pass,
    }
    verdict.update(
        conflict_result=conflict_result,
        runs=runs,
        timings={k: round(v, 3) for k, v in timings.items()},
        versions=tool_versions(sandbox_versions),
    )
    return verdict


def verdict_skeleton(task: Task, reasons: list[str], backend: str) -> dict:
    """Every verdict has these keys, so readers (the report) need no special cases."""
    return {
        "valid": not reasons,
        "reasons": reasons,
        "task": task.name,
        "base_commit": task.base_commit,
        "backend": backend,
        "checks": {},
        "conflict_result": {"conflicts": [], "pairs": [], "copy_of": None},
        "runs": {},
        "timings": {},
        "versions": tool_versions({}),
    }


def unusable_verdict(task: Task, problems: list[str], backend: str) -> dict:
    """The verdict of an attempt whose diff is no candidate (no source, no tests, no description)."""
    return verdict_skeleton(task, list(problems), backend)


def run_both(task: Task, git_dir: Path, feature_patch: str, tests_patch: str, settings: ValidationSettings) -> tuple[TestRun, TestRun, dict[str, str]]:
    """base+tests and base+feature+tests, each in its own sandbox, at the same time.

    Sandboxes open in this thread and close on any exit, Ctrl-C included, which also ends the
    commands still running in them.
    """
    files = files_to_test(task, tests_patch)
    network = bool(task.settings.get("network", False))
    with ExitStack() as stack:
        boxes = [stack.enter_context(open_sandbox(task, settings.backend, git_dir, network=network)) for _ in range(2)]
        jobs = [
            (boxes[0], [("tests.patch", tests_patch)], "before"),
            (boxes[1], [("tests.patch", tests_patch), ("feature.patch", feature_patch)], "after"),
        ]
        pool = ThreadPoolExecutor(max_workers=2)
        try:
            futures = [pool.submit(run_tests, box, task, patches, files, label, settings.timeout) for box, patches, label in jobs]
            before, after = (f.result() for f in futures)
        finally:
            pool.shutdown(wait=False, cancel_futures=True)
        return before, after, boxes[0].versions()


def touched_tests(test_file_diffs: list[diffs.FileDiff]) -> dict[str, set[str]]:
    """Per test file that tests.patch keeps, the definitions it adds or changes."""
    return {f.path: diffs.touched_definitions(f) for f in test_file_diffs if f.status != "deleted"}


def from_tests_patch(test_id: str, scope: dict[str, set[str]]) -> bool:
    """Whether a test id is one tests.patch adds or changes: its file is in the patch and, when
    the patch names definitions, the id names one of them (function or class)."""
    segments = {re.sub(r"\[.*\]$", "", part) for part in test_id.split("::")[1:]}
    return any(belongs_to(test_id, path) and (not names or segments & names) for path, names in scope.items())


def grade(before: TestRun, after: TestRun, scope: dict[str, set[str]]) -> tuple[dict, dict]:
    """SWE-bench style: FAIL_TO_PASS among tests.patch's tests, PASS_TO_PASS among all that
    passed before."""

    candidates = sorted(t for t in set(before.outcomes) | set(after.outcomes) if from_tests_patch(t, scope))
    f2p = [t for t in candidates if before.outcomes.get(t) != PASSED and after.outcomes.get(t) == PASSED]
    still_failing = [t for t in candidates if after.outcomes.get(t) != PASSED and after.outcomes.get(t) != "skipped"]
    p2p = sorted(t for t, outcome in before.outcomes.items() if outcome == PASSED)
    broken = [t for t in p2p if after.outcomes.get(t) != PASSED]
    return (
        {"ok": bool(f2p) and not still_failing, "tests": f2p, "still_failing": still_failing},
        {"ok": not broken, "tests": p2p, "broken": broken},
    )


def describe(verdict: dict) -> str:
    """A few lines a person can read in a terminal."""
    checks = verdict["checks"]
    lines = [f"{'VALID' if verdict['valid'] else 'INVALID'}  {verdict['task']}  ({verdict['backend']}, {verdict['timings']['total']:.1f} s)"]
    lines.append(f"  fail-to-pass: {len(checks['fail_to_pass']['tests'])} test(s); pass-to-pass: "
                 f"{len(checks['pass_to_pass']['tests'])} kept, {len(checks['pass_to_pass']['broken'])} broken")
    conflicts_with = ", ".join(f"feature{i}" for i in verdict["conflict_result"]["conflicts"]) or "none"
    lines.append(f"  conflicts with: {conflicts_with}")
    lines += [f"  - {reason}" for reason in verdict["reasons"]]
    return "\n".join(lines) + "\n"


def validate_generated_feature(
    repo_name: str,
    task_id: int,
    feature_patch: str,
    tests_patch: str,
    *,
    dataset_root: str | Path = "dataset",
    backend: str = "local",
    timeout: float = 300.0,
    repo: str | Path | None = None,
) -> dict:
    """The seed's API: validate a candidate for `dataset/<repo_name>/task<task_id>`.

    Returns the verdict dict: `verdict['valid']`, `verdict['conflict_result']['conflicts']`, ...
    """
    folder = repo_name if repo_name.endswith("_task") else f"{repo_name}_task"
    task = load_task(Path(dataset_root) / folder / f"task{task_id}")
    git_dir = resolve_repo(task, Path(repo) if repo else None)
    return validate_candidate(task, feature_patch, tests_patch, git_dir=git_dir,
                              settings=ValidationSettings(backend=backend, timeout=timeout))


def validate_step(task: Task, git_dir: Path, split_out: Path, agent_out: Path, settings: ValidationSettings, out: Path) -> dict:
    """The verdict of an attempt: a full validation, or the reasons it cannot be a candidate."""
    split_out, agent_out = Path(split_out), Path(agent_out)
    problems = json.loads((split_out / "split.json").read_text())["problems"]
    usage = json.loads((agent_out / "usage.json").read_text())
    if problems:
        verdict = unusable_verdict(task, problems, settings.backend)
    else:
        verdict = validate_candidate(
            task,
            (split_out / "feature.patch").read_text(encoding="utf-8", errors="surrogateescape"),
            (split_out / "tests.patch").read_text(encoding="utf-8", errors="surrogateescape"),
            git_dir=git_dir,
            settings=settings,
        )
    verdict["agent_exit_status"] = usage["exit_status"]
    atomic.write_json(Path(out), verdict)
    return verdict
