"""Is a candidate feature valid? The verdict, with every check's evidence.

A candidate (feature.patch, tests.patch) is valid when (see docs/validity.md):
  1. both patches apply to the base; the source patch is not empty, touches no test file, and
     neither patch changes the test harness (harness.py);
  2. fail-to-pass: tests of tests.patch pass with the feature and did not pass without it
     (failed, errored or not collected): at least one, and none of them fails with the feature;
  3. pass-to-pass: every test that passes on the bare base commit still passes with the feature,
     judged on the repository's own test files as they are at the base, in a run that loads no
     test code of the candidate's (whatever tests.patch does to an existing test, that test counts
     as it is at the base); and the candidate's tests break none of them either;
  4. it conflicts with at least one existing feature (source patches, git's merge);
  5. it is no copy of an existing feature (the same tree, or the same change with names changed);
  6. steady: over `validation.reruns` runs of each (reruns in shuffled orders), no fail-to-pass
     test is flaky and no pass-to-pass test fails in any (the base's flaky tests are left out);
  7. with `validation.require_needed`, every part of feature.patch is needed by a test.
The tests run as the task's own runner.sh runs them (testrun.py), in four sandboxes: the bare
base (cached per environment), base+tests and base+feature+tests (fail-to-pass), and
base+feature with no tests patch (pass-to-pass); a candidate valid so far is rerun, then its
parts are left out in turn. Outcomes are kept per test id in the verdict,
so `grade` can regrade it from its records without running anything again. A run that cannot
start on the bare base is an environment failure (EnvironmentFailure), not a verdict.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

from cooperbench.generation.conflicts import detect as conflicts
from cooperbench.generation.conflicts.classify import WholeFeature, classify_pairs, whole_features
from cooperbench.generation.conflicts.detect import candidate_id
from cooperbench.generation.errors import GenerationError
from cooperbench.generation.grading import novelty, runcache, tamper, testrun
from cooperbench.generation.grading.baseline import base_run
from cooperbench.generation.grading.grade import Reasons, apply_rule, judge_runs, touched_tests, verdict_skeleton
from cooperbench.generation.grading.outcomes import PASSED
from cooperbench.generation.grading.screen import harness_of, source_guard, source_screen
from cooperbench.generation.patches import diffs
from cooperbench.generation.patches.diffs import PATCH_LIMIT
from cooperbench.generation.patches.gitutil import patch_applies, post_images, read_blob
from cooperbench.generation.sandbox.base import close_all
from cooperbench.generation.schemas import ValidationSettings
from cooperbench.generation.tasks.environment import BASE_RUN_PATCH
from cooperbench.generation.tasks.task import Task
from cooperbench.generation.util import syntax

APPLY_NAMES = {"feature_patch": "feature.patch", "tests_patch": "tests.patch", "together": "the two patches together"}



# ---------------------------------------------------------------- the runs


RUN_PATCHES = {  # label -> the patches its runner.sh gets (tests patch first), by name
    "before": ("tests.patch",),
    "after": ("tests.patch", "feature.patch"),
    "feature": ("base-tests.patch", "feature.patch"),  # the repository's own tests, no candidate test code
}


def run_all(task: Task, git_dir: Path, feature_patch: str, tests_patch: str, settings: ValidationSettings):
    """base (cached), before, after and feature (RUN_PATCHES), in parallel; the feature's source
    files watched wherever it runs."""
    one = runner(task, git_dir, feature_patch, settings)
    texts = {"tests.patch": tests_patch, "feature.patch": feature_patch}
    with interruptible(1 + len(RUN_PATCHES)) as pool:
        base = pool.submit(base_run, task, git_dir, settings)
        runs = {label: pool.submit(one, label, texts) for label in RUN_PATCHES}
        done = {label: future.result() for label, future in runs.items()}
        versions = done["after"][1]
        return base.result(), *(done[label][0] for label in RUN_PATCHES), versions


def rerun_all(task: Task, git_dir: Path, feature_patch: str, tests_patch: str, settings: ValidationSettings,
              runs: dict[str, testrun.TestRun]) -> None:
    """The candidate's runs made again, to `validation.reruns` in all, each rerun in a shuffled
    order of its own, and folded into `runs` (the base's reruns are the base run's own)."""
    one = runner(task, git_dir, feature_patch, settings)
    texts = {"tests.patch": tests_patch, "feature.patch": feature_patch}
    jobs = [(label, order) for order in range(1, settings.reruns) for label in RUN_PATCHES]
    with interruptible(len(RUN_PATCHES)) as pool:
        for (label, _), (run, _) in zip(jobs, pool.map(lambda job: one(job[0], texts, job[1]), jobs)):
            runs[label].fold(run)


def needed_parts(task: Task, git_dir: Path, feature_patch: str, tests_patch: str, settings: ValidationSettings,
                 fail_to_pass: list[str]) -> dict:
    """Each part of feature.patch (diffs.parts: its files, or one file's hunks) left out in turn:
    a part is needed when the fail-to-pass tests do not all pass without it (R2E-Gym's check that
    the tests test the change). A part no test needs is `unneeded`; a part of a Python file that
    changes its documentation only (docstrings, comments, layout) is `documentation`, never run."""
    one = runner(task, git_dir, feature_patch, settings)
    parts = diffs.parts(diffs.parse_diff(feature_patch, "feature.patch"))

    def left_out(part: tuple[str, str, str]) -> dict:
        name, path, rest = part
        if path.endswith(".py"):
            texts = [post_images(git_dir, task.base_commit, patch, [path])[path] for patch in (feature_patch, rest)]
            if None not in texts and syntax.code_of(texts[0]) is not None and syntax.code_of(texts[0]) == syntax.code_of(texts[1]):
                return {"part": name, "needed": None, "kind": "documentation"}
        run = one("after", {"tests.patch": tests_patch, "feature.patch": rest}, label=f"without {name}")[0]
        passing = [t for t in fail_to_pass if run.outcomes.get(t) == PASSED]
        return {"part": name, "needed": len(passing) < len(fail_to_pass), "still_passing": len(passing)}

    with interruptible(len(RUN_PATCHES)) as pool:
        checked = list(pool.map(left_out, parts))
    return {"parts": checked, "unneeded": [c["part"] for c in checked if c["needed"] is False]}


def runner(task: Task, git_dir: Path, feature_patch: str, settings: ValidationSettings) -> Callable[..., tuple]:
    """one(label, texts, order=0, label=...): the run RUN_PATCHES names for `label`, with the
    patches' texts by name, in a rerun's `order`; the feature's source files watched."""
    guard = source_guard(task, git_dir, feature_patch, "feature.patch")

    def one(kind: str, texts: dict[str, str], order: int = 0, label: str | None = None) -> tuple[testrun.TestRun, dict]:
        given = {**texts, "base-tests.patch": BASE_RUN_PATCH}
        patches = [(name, given[name]) for name in RUN_PATCHES[kind]]
        watched = guard if "feature.patch" in RUN_PATCHES[kind] else None
        return runcache.cached_run(task, git_dir, settings, patches, label or kind, watched, network=task.network,
                                   order=order)

    return one


@contextmanager
def interruptible(workers: int) -> Iterator[ThreadPoolExecutor]:
    """A pool whose runs in flight end at Ctrl-C, so its threads can be joined."""
    pool = ThreadPoolExecutor(max_workers=workers)
    try:
        yield pool
    except KeyboardInterrupt:
        close_all()
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


# ---------------------------------------------------------------- the verdict


def static_checks(task: Task, git_dir: Path, feature_patch: str, tests_patch: str, reasons: Reasons) -> dict:
    feature_files = diffs.parse_diff(feature_patch, "feature.patch")
    test_files = diffs.parse_diff(tests_patch, "tests.patch")
    touches_tests = [f.path for f in feature_files if diffs.is_test_path(f.path, task.test_patterns)]
    harness = [*harness_of(task, git_dir, feature_patch, "feature.patch"), *harness_of(task, git_dir, tests_patch, "tests.patch")]
    if not feature_files:
        reasons.add("empty_feature", "feature.patch is empty")
    if not test_files:
        reasons.add("empty_tests", "tests.patch is empty")
    if touches_tests:
        reasons.add("feature_changes_tests", f"feature.patch changes test files: {', '.join(touches_tests)}")
    if harness:
        reasons.add("changes_harness", f"the candidate changes the test harness: {', '.join(harness)}")
    screened = source_screen(task, git_dir, feature_patch, "feature.patch")
    compiled = tamper.compiled_files(tests_patch, "tests.patch")
    if compiled:
        screened.append(("compiled_files", f"tests.patch ships compiled or cache files: {', '.join(compiled[:5])}"))
    for key, sentence in screened:
        reasons.add(key, sentence)
    return {"ok": not reasons, "feature_patch_files": [f.path for f in feature_files],
            "tests_patch_files": [f.path for f in test_files], "feature_touches_tests": touches_tests,
            "harness_files": harness, "screened": [sentence for _, sentence in screened]}


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


def validate_candidate(task: Task, feature_patch: str, tests_patch: str, *, git_dir: Path,
                       settings: ValidationSettings = ValidationSettings.of(), aside: frozenset[str] = frozenset()) -> dict:
    """The verdict on one candidate, as a JSON-ready dict. Its `log` entry holds what depends on
    the machine and the moment (timings, output tails, versions), kept apart by writers. `aside`:
    reason keys the caller does not hold against it (onboarding's proof: the conflict rule), so
    the checks made only of a candidate valid so far (reruns, the part check) are made anyway."""
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
    fail_to_pass: dict = {"ok": False, "tests": [], "still_failing": [], "flaky": {}, "rounds": 0}
    pass_to_pass: dict = {"ok": False, "tests": [], "broken": [], "contradicted": [], "flaky_on_base": {}}
    runs, log, scope, needed = {}, {}, {}, {}
    if applies["ok"] and not static["harness_files"] and not static["screened"]:
        base, before, after, feature, versions = run_all(task, git_dir, feature_patch, tests_patch, settings)
        scope = touched_tests(tests_patch, lambda path: read_blob(git_dir, task.base_commit, path))
        probe = Reasons()
        judge_runs(base, before, after, feature, scope, probe)
        if settings.reruns > 1 and reasons.only(aside) and not probe:  # valid so far: reruns can only find it invalid
            rerun_all(task, git_dir, feature_patch, tests_patch, settings, {"before": before, "after": after, "feature": feature})
        fail_to_pass, pass_to_pass = judge_runs(base, before, after, feature, scope, reasons)
        if settings.check_parts and reasons.only(aside):
            needed = needed_parts(task, git_dir, feature_patch, tests_patch, settings, fail_to_pass["tests"])
            if settings.require_needed and needed["unneeded"]:
                reasons.add("unneeded_parts", "parts of feature.patch no fail-to-pass test needs (they all still pass "
                            f"without it): {', '.join(needed['unneeded'][:5])}")
        if fail_to_pass["ok"] and pass_to_pass["ok"] and conflict_result["conflicts"]:
            classify_conflicts(task, git_dir, feature_patch, tests_patch, conflict_result, settings, after.outcomes)
        runs = {run.label: run.to_dict() for run in (base, before, after, feature)}
        log = {"runs": {run.label: run.log() for run in (base, before, after, feature)}, "versions": versions}
    verdict = verdict_skeleton(task, reasons, settings.backend)
    verdict["checks"] = {"static": static, "applies": applies, "fail_to_pass": fail_to_pass, "pass_to_pass": pass_to_pass,
                         "needed": needed}
    verdict.update(conflict_result=conflict_result, runs=runs, scope={path: sorted(names) for path, names in scope.items()})
    verdict = apply_rule(verdict, settings.require)
    verdict["log"] = {**log, "seconds": round(time.monotonic() - started, 3)}
    return verdict


def classify_conflicts(task: Task, git_dir: Path, feature_patch: str, tests_patch: str, conflict_result: dict,
                       settings: ValidationSettings, alone: dict[str, str]) -> None:
    """Give each conflicting pair of a candidate that passes its tests its class (trivial or
    hard, with the evidence), whatever the rule: the verdict keeps them."""
    candidate = WholeFeature(candidate_id(task), feature_patch, tests_patch)
    wholes = {**whole_features(task), candidate.id: candidate}
    pairs = [(k, candidate.id) for k in conflict_result["conflicts"]]
    classes = {r["f1"]: r for r in classify_pairs(task, git_dir, wholes, pairs, settings, alone={candidate.id: alone})}
    for pair in conflict_result["pairs"]:
        if pair["feature"] in classes:
            pair["class"], pair["evidence"] = classes[pair["feature"]]["class"], classes[pair["feature"]]["evidence"]
