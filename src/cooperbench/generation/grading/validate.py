"""Is a candidate feature valid? The verdict, with every check's evidence.

A candidate (feature.patch, tests.patch) is valid when (see README, "Validity"):
  1. both patches apply to the base; the source patch is not empty, touches no test file, and
     neither patch changes the test harness (harness.py);
  2. fail-to-pass: tests of tests.patch pass with the feature and did not pass without it
     (failed, errored or not collected): at least one, and none of them fails with the feature;
  3. pass-to-pass: every test that passes on the bare base commit still passes with the feature,
     judged on the repository's own test files as they are at the base, in a run that loads no
     test code of the candidate's (whatever tests.patch does to an existing test, that test counts
     as it is at the base); and the candidate's tests break none of them either;
  4. it conflicts with at least one existing feature (source patches, git's merge);
  5. it is no copy of an existing feature (the same tree, or the same change with names changed).
The tests run as the task's own runner.sh runs them (testrun.py), in four sandboxes: the bare
base (cached per environment), base+tests and base+feature+tests (fail-to-pass), and
base+feature with no tests patch (pass-to-pass). Outcomes are kept per test id in the verdict,
so `grade` can regrade it from its records without running anything again. A run that cannot
start on the bare base is an environment failure (EnvironmentFailure), not a verdict.
"""

from __future__ import annotations

import json
import re
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable

from cooperbench.generation.conflicts import merge as conflicts
from cooperbench.generation.errors import GenerationError
from cooperbench.generation.grading import novelty, testrun
from cooperbench.generation.grading.harness import harness_changes, reads_content
from cooperbench.generation.grading.reports import ERROR, PASSED, SKIPPED, belongs_to
from cooperbench.generation.patches import diffs
from cooperbench.generation.patches.diffs import PATCH_LIMIT
from cooperbench.generation.patches.gitutil import (
    patch_applies,
    post_images,
    read_blob,
    tree_paths,
)
from cooperbench.generation.pipeline.codeversion import code_version
from cooperbench.generation.pipeline.layout import AttemptPaths
from cooperbench.generation.sandbox.backends import open_sandbox
from cooperbench.generation.sandbox.base import close_all
from cooperbench.generation.schemas import ValidationSettings, Verdict, dump, parse
from cooperbench.generation.tasks.environment import (
    BASE_RUN_PATCH,
    EnvironmentFailure,
    build_lock,
    explain_failure,
)
from cooperbench.generation.tasks.task import Task, cache_root
from cooperbench.generation.util import atomic

APPLY_NAMES = {"feature_patch": "feature.patch", "tests_patch": "tests.patch", "together": "the two patches together"}



class Reasons:
    """Why a candidate is invalid: a short stable key (for counting) and a sentence (for people)."""

    def __init__(self) -> None:
        self.items: list[tuple[str, str]] = []

    def add(self, key: str, sentence: str) -> None:
        self.items.append((key, sentence))

    def __bool__(self) -> bool:
        return bool(self.items)


# ---------------------------------------------------------------- grading


def touched_tests(tests_patch: str, base_file: Callable[[str], str | None] = lambda path: None) -> dict[str, set[str]]:
    """Per test file that tests.patch keeps, the definitions it adds or changes (`base_file`
    gives a file's text at the base commit, to place changes deep inside a definition)."""
    scope = {}
    for f in diffs.parse_diff(tests_patch, "tests.patch"):
        if f.status != "deleted":
            base = base_file(f.path) if f.status == "modified" else None
            scope[f.path] = diffs.touched_definitions(f, base.splitlines() if base else None)
    return scope


def from_tests_patch(test_id: str, scope: dict[str, set[str]]) -> bool:
    """Whether a test id is one tests.patch adds or changes: its file is in the patch and, when
    the patch names definitions, the id names one of them (function, class, describe block)."""
    segments = {re.sub(r"\[.*\]$", "", part).strip() for part in re.split(r"::| > ", test_id.partition("::")[2])}
    return any(belongs_to(test_id, path) and (not names or segments & names) for path, names in scope.items())


def grade(base: dict[str, str], before: dict[str, str], after: dict[str, str], feature: dict[str, str],
          scope: dict[str, set[str]]) -> tuple[dict, dict]:
    """SWE-bench style, from outcome maps alone (base, base+tests, base+feature+tests, and
    base+feature with the base's own tests).

    The tests of tests.patch ("ours") are those whose definitions it touches, and those whose
    outcome it alone changes (base vs base+tests: a test parametrized by data the patch edits,
    say), except tests that passed on the base and did not run at all with the patch alone: the
    patch stopped their module from loading without the feature (a new import), which makes them
    no tests of its own.
    FAIL_TO_PASS: tests of ours passing with the feature that did not pass without it.
    PASS_TO_PASS: every test passing on the bare base, judged in the run without the candidate's
    tests (`feature`), and, for those tests.patch leaves alone, in the run with them (`after`):
    the feature breaks none, and the candidate's tests break none. A test that fails with the
    feature alone yet passes beside the candidate's untouching tests is `contradicted`: evidence
    of test code that reaches other tests' outcomes."""
    changed = {t for t in set(base) | set(before) if base.get(t) != before.get(t)
               and not (base.get(t) == PASSED and t not in before)}
    ours = sorted(t for t in set(before) | set(after) if from_tests_patch(t, scope) or t in changed)
    f2p = [t for t in ours if after.get(t) == PASSED and before.get(t) != PASSED]
    still_failing = [t for t in ours if after.get(t) not in (PASSED, SKIPPED, None)]
    mine = set(ours)
    p2p = sorted(t for t, outcome in base.items() if outcome == PASSED)
    broken = [t for t in p2p if feature.get(t) != PASSED
              or (t not in mine and after.get(t) not in (PASSED, SKIPPED, None))]
    contradicted = [t for t in broken if t not in mine and feature.get(t) != PASSED and after.get(t) == PASSED]
    return (
        {"ok": bool(f2p) and not still_failing, "tests": f2p, "still_failing": still_failing},
        {"ok": not broken, "tests": p2p, "broken": broken, "contradicted": contradicted},
    )


# ---------------------------------------------------------------- the runs


def base_run(task: Task, git_dir: Path, settings: ValidationSettings) -> testrun.TestRun:
    """The bare base commit's run, computed once per environment: every candidate shares it."""
    with open_sandbox(task, settings.backend, git_dir) as sandbox:
        name = f"{settings.backend}-{sandbox.env_id}-{int(settings.timeout)}-{code_version(testrun.__name__, settings.backend)}"
        cache = cache_root() / "base-runs" / f"{name}.json"
        with build_lock(f"base-run-{name}"):  # candidates validated at once share one base run
            if cache.exists():
                return testrun.TestRun.from_dict(json.loads(cache.read_text()))
            run = testrun.run_tests(sandbox, [("tests.patch", BASE_RUN_PATCH)], "base", settings.timeout)
            if run.problem or run.timed_out:
                raise EnvironmentFailure(f"{task.name}: the tests do not run on the bare base commit "
                                         f"({'timed out' if run.timed_out else run.problem})")
            if run.outcomes and all(o == ERROR for o in run.outcomes.values()):  # fixtures that fetch a model, say
                raise EnvironmentFailure(f"{task.name}: every test errors on the bare base commit "
                                         f"({explain_failure(run.output_tail, run.exit_code)}): no base to grade against")
            atomic.write_json(cache, run.to_dict())
    return run


RUN_PATCHES = {  # label -> the patches its runner.sh gets (tests patch first), by name
    "before": ("tests.patch",),
    "after": ("tests.patch", "feature.patch"),
    "feature": ("base-tests.patch", "feature.patch"),  # the repository's own tests, no candidate test code
}


def run_all(task: Task, git_dir: Path, feature_patch: str, tests_patch: str, settings: ValidationSettings):
    """base (cached), before, after and feature (RUN_PATCHES), in parallel."""
    network = task.network
    texts = {"tests.patch": tests_patch, "feature.patch": feature_patch, "base-tests.patch": BASE_RUN_PATCH}

    def one(label: str) -> tuple[testrun.TestRun, dict]:
        with open_sandbox(task, settings.backend, git_dir, network=network) as sandbox:
            patches = [(name, texts[name]) for name in RUN_PATCHES[label]]
            return testrun.run_tests(sandbox, patches, label, settings.timeout), sandbox.versions()

    pool = ThreadPoolExecutor(max_workers=1 + len(RUN_PATCHES))
    try:
        base = pool.submit(base_run, task, git_dir, settings)
        runs = {label: pool.submit(one, label) for label in RUN_PATCHES}
        done = {label: future.result() for label, future in runs.items()}
        versions = done["after"][1]
        return base.result(), *(done[label][0] for label in RUN_PATCHES), versions
    except KeyboardInterrupt:
        close_all()  # the runs in flight end now, so the threads can be joined
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


# ---------------------------------------------------------------- the verdict


def static_checks(task: Task, git_dir: Path, feature_patch: str, tests_patch: str, reasons: Reasons) -> dict:
    feature_files = diffs.parse_diff(feature_patch, "feature.patch")
    test_files = diffs.parse_diff(tests_patch, "tests.patch")
    touches_tests = [f.path for f in feature_files if diffs.is_test_path(f.path, task.test_patterns)]
    base_paths = tree_paths(git_dir, task.base_commit)
    harness = []
    for name, patch, files in (("feature.patch", feature_patch, feature_files), ("tests.patch", tests_patch, test_files)):
        modified = [f.path for f in files if f.status in ("modified", "renamed") and reads_content(f.path)]
        after = post_images(git_dir, task.base_commit, patch, modified)
        harness += harness_changes(patch, name, base_paths=base_paths, after=after.get,
                                   before=lambda path: read_blob(git_dir, task.base_commit, path))
    if not feature_files:
        reasons.add("empty_feature", "feature.patch is empty")
    if not test_files:
        reasons.add("empty_tests", "tests.patch is empty")
    if touches_tests:
        reasons.add("feature_changes_tests", f"feature.patch changes test files: {', '.join(touches_tests)}")
    if harness:
        reasons.add("changes_harness", f"the candidate changes the test harness: {', '.join(harness)}")
    return {"ok": not reasons, "feature_patch_files": [f.path for f in feature_files],
            "tests_patch_files": [f.path for f in test_files], "feature_touches_tests": touches_tests,
            "harness_files": harness}


def apply_checks(task: Task, git_dir: Path, feature_patch: str, tests_patch: str, reasons: Reasons) -> dict:
    applies = {
        "feature_patch": patch_applies(git_dir, task.base_commit, feature_patch) if feature_patch.strip() else "empty",
        "tests_patch": patch_applies(git_dir, task.base_commit, tests_patch) if tests_patch.strip() else "empty",
    }
    if applies["feature_patch"] is None and applies["tests_patch"] is None:
        applies["together"] = patch_applies(git_dir, task.base_commit, tests_patch + feature_patch)
    for name, error in applies.items():
        if error and error != "empty":
            reasons.add("does_not_apply", f"{APPLY_NAMES[name]} cannot be applied to the base: {error}")
    return {"ok": all(error is None for error in applies.values()), **applies}


def conflict_and_novelty(task: Task, git_dir: Path, feature_patch: str, reasons: Reasons) -> dict:
    result = conflicts.candidate_conflicts(task, git_dir, feature_patch)
    closest, score = novelty.closest_feature(feature_patch, {f.id: f.feature_patch for f in task.features}, task.test_patterns)
    result["closest_feature"], result["similarity"] = closest, score
    if result["copy_of"] is not None:
        reasons.add("copy", f"the feature is a copy of feature{result['copy_of']} (the same change)")
    elif score >= novelty.COPY_SIMILARITY:
        result["copy_of"] = closest
        reasons.add("copy", f"the feature is a copy of feature{closest} with names changed ({score:.0%} alike)")
    if not result["conflicts"]:
        reasons.add("no_conflict", "conflicts with no existing feature")
    return result


def judge_runs(base, before, after, feature, scope, settings, reasons: Reasons) -> tuple[dict, dict]:
    empty = ({"ok": False, "tests": [], "still_failing": []}, {"ok": False, "tests": [], "broken": [], "contradicted": []})
    runs = (before, after, feature)
    for run in runs:
        if run.limit:
            reasons.add("resource_limit", f"the {run.label} test run hit the sandbox's {run.limit}")
        elif run.timed_out:
            reasons.add("timeout", f"timeout: the {run.label} test run passed the {settings.timeout:g} s limit")
    if any(r.limit or r.timed_out for r in runs):
        return empty
    forged = [i for run in runs for i in run.tampered]
    if forged:
        cut = any(run.truncated for run in runs if run.tampered)
        reasons.add("report_tampered", f"the test report disagrees with what the run printed as it went "
                    f"(rewritten by the tests?"
                    f"{'; the run printed more than the sandbox keeps, so its report cannot be checked' if cut else ''}): "
                    f"{', '.join(forged[:3])}")
        return empty
    for run in (after, feature):
        if run.problem:
            reasons.add("tests_did_not_run", f"with the feature ({run.label} run) the tests did not run: {run.problem}")
    if after.problem or feature.problem:
        return empty
    fail_to_pass, pass_to_pass = grade(base.outcomes, before.outcomes, after.outcomes, feature.outcomes, scope)
    ours_broken = sorted(m for m in after.collection_errors if any(belongs_to(m + "::", p) for p in scope))
    if ours_broken:
        first = ours_broken[0]
        reasons.add("collection_error", f"tests of tests.patch do not load with the feature: {first}: {after.collection_errors[first]}")
    if not fail_to_pass["tests"] and not ours_broken:
        reasons.add("no_fail_to_pass", "no fail-to-pass test: no test of tests.patch fails without the feature and passes with it")
    if fail_to_pass["still_failing"]:
        reasons.add("fails_with_feature", f"tests of tests.patch fail with the feature: {', '.join(fail_to_pass['still_failing'][:5])}")
    broken = pass_to_pass["broken"]
    if broken:
        rewritten = [t for t in broken if from_tests_patch(t, scope)]
        reasons.add("breaks_tests", f"breaks tests that passed before (judged on the repository's own tests as at "
                    f"the base): {', '.join(broken[:5])}" + (f" and {len(broken) - 5} more" if len(broken) > 5 else "")
                    + (f" (tests.patch rewrites {len(rewritten)} of them: the feature changes what existing tests "
                       "expect)" if rewritten else ""))
    if pass_to_pass["contradicted"]:
        reasons.add("tests_interfere", "tests that fail with the feature pass beside the candidate's tests, which do "
                    f"not touch them: {', '.join(pass_to_pass['contradicted'][:3])}")
    return fail_to_pass, pass_to_pass


def validate_candidate(task: Task, feature_patch: str, tests_patch: str, *, git_dir: Path,
                       settings: ValidationSettings = ValidationSettings()) -> dict:
    """The verdict on one candidate, as a JSON-ready dict. Its `log` entry holds what depends on
    the machine and the moment (timings, output tails, versions), kept apart by writers."""
    started = time.monotonic()
    for name, patch in (("feature.patch", feature_patch), ("tests.patch", tests_patch)):
        if len(patch) > PATCH_LIMIT:
            raise GenerationError(f"{name}: {len(patch) / 2**20:.1f} MiB, over the {PATCH_LIMIT // 2**20} MiB a candidate patch may be")
    reasons = Reasons()
    static = static_checks(task, git_dir, feature_patch, tests_patch, reasons)
    applies = apply_checks(task, git_dir, feature_patch, tests_patch, reasons)
    conflict_result = {"conflicts": [], "pairs": [], "copy_of": None}
    if applies["feature_patch"] is None:
        conflict_result = conflict_and_novelty(task, git_dir, feature_patch, reasons)
    fail_to_pass: dict = {"ok": False, "tests": [], "still_failing": []}
    pass_to_pass: dict = {"ok": False, "tests": [], "broken": [], "contradicted": []}
    runs, log = {}, {}
    if applies["ok"] and not static["harness_files"]:
        base, before, after, feature, versions = run_all(task, git_dir, feature_patch, tests_patch, settings)
        scope = touched_tests(tests_patch, lambda path: read_blob(git_dir, task.base_commit, path))
        fail_to_pass, pass_to_pass = judge_runs(base, before, after, feature, scope, settings, reasons)
        runs = {run.label: run.to_dict() for run in (base, before, after, feature)}
        log = {"runs": {run.label: run.log() for run in (base, before, after, feature)}, "versions": versions}
    verdict = verdict_skeleton(task, reasons, settings.backend)
    verdict["checks"] = {"static": static, "applies": applies, "fail_to_pass": fail_to_pass, "pass_to_pass": pass_to_pass}
    verdict.update(conflict_result=conflict_result, runs=runs)
    verdict["log"] = {**log, "seconds": round(time.monotonic() - started, 3)}
    return verdict


def verdict_skeleton(task: Task, reasons: Reasons, backend: str) -> dict:
    """Every verdict has these keys, so readers (the report) need no special cases."""
    return {
        "valid": not reasons,
        "reasons": [sentence for _, sentence in reasons.items],
        "reason_keys": [key for key, _ in reasons.items],
        "task": task.name,
        "base_commit": task.base_commit,
        "backend": backend,
        "checks": {},
        "conflict_result": {"conflicts": [], "pairs": [], "copy_of": None},
        "runs": {},
    }


def describe(verdict: dict) -> str:
    """A few lines a person can read in a terminal."""
    checks = verdict["checks"]
    lines = [f"{'VALID' if verdict['valid'] else 'INVALID'}  {verdict['task']}  ({verdict['backend']})"]
    if checks.get("fail_to_pass"):
        lines.append(f"  fail-to-pass: {len(checks['fail_to_pass']['tests'])} test(s); pass-to-pass: "
                     f"{len(checks['pass_to_pass']['tests'])} kept, {len(checks['pass_to_pass']['broken'])} broken")
    conflicts_with = ", ".join(f"feature{i}" for i in verdict["conflict_result"]["conflicts"]) or "none"
    lines.append(f"  conflicts with: {conflicts_with}")
    lines += [f"  - {reason}" for reason in verdict["reasons"]]
    return "\n".join(lines) + "\n"


def not_a_candidate(task: Task, problems: list[tuple[str, str]], backend: str) -> dict:
    """The verdict of an attempt whose diff is no candidate (no source, no tests, no description)."""
    reasons = Reasons()
    for key, sentence in problems:
        reasons.add(key, sentence)
    return verdict_skeleton(task, reasons, backend)


def validate_step(task: Task, git_dir: Path, paths: AttemptPaths, settings: ValidationSettings, key: str = "") -> dict:
    """The verdict of an attempt: a full validation, or the reasons it is no candidate. Its `log`
    (timings, output tails, versions) is returned apart, not written into verdict.json."""
    split = json.loads(paths.split_json.read_text(encoding="utf-8"))
    outcome = json.loads(paths.outcome.read_text(encoding="utf-8"))
    if split["problems"]:
        verdict = not_a_candidate(task, list(zip(split["problem_keys"], split["problems"])), settings.backend)
    else:
        verdict = validate_candidate(task, read_text(paths.feature_patch), read_text(paths.tests_patch),
                                     git_dir=git_dir, settings=settings)
    verdict["agent_exit_status"] = outcome["exit_status"]
    if key:
        verdict["key"] = key  # the inputs it was computed from (pipeline/validate.py)
    log = verdict.pop("log", {})
    atomic.write_json(paths.verdict_json, dump(parse(verdict, Verdict, paths.verdict_json)))
    return {**verdict, "log": log}


def read_text(path: Path) -> str:
    return path.read_text(encoding="utf-8", errors="surrogateescape")
