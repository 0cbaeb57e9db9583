"""How much coordination a conflict needs: `clean`, `trivial` or `hard`.

A pair of features whose source patches merge under git's default merge is `clean`: no conflict.
A conflicting pair is `trivial` when git's union merge (keep both sides of every conflict) of the
two whole features (each its source and tests, on its own branch off the base) already works:
in one run of the task's own runner (its tests patch: the merged test files; its feature patch:
the merged source), every test of both features' tests patches passes and no test that passed
on the base fails (each judged against the features' own runs: judge_union). Otherwise it is `hard`: the union merge leaves conflicts git cannot keep both
sides of, or it does not build, or a test fails; the record says which.

A benchmark pair that is trivial tests no coordination: two agents that never talk get it right.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from cooperbench.generation.conflicts.detect import commit_patches, conflict_matrix
from cooperbench.generation.errors import GenerationError
from cooperbench.generation.grading import runcache, tamper, testrun
from cooperbench.generation.grading.baseline import base_run
from cooperbench.generation.grading.grade import from_tests_patch, touched_tests
from cooperbench.generation.grading.outcomes import PASSED, SKIPPED
from cooperbench.generation.patches import diffs
from cooperbench.generation.patches.gitutil import Scratch, read_blob, scratch_repo
from cooperbench.generation.schemas import ValidationSettings
from cooperbench.generation.tasks.task import Task

CLEAN, TRIVIAL, HARD = "clean", "trivial", "hard"
SHOWN = 10  # test ids kept per list in a record


@dataclass(frozen=True)
class WholeFeature:
    """A feature as an agent of the benchmark would leave it: its source and its tests."""

    id: int
    feature_patch: str
    tests_patch: str


def whole_features(task: Task) -> dict[int, WholeFeature]:
    return {f.id: WholeFeature(f.id, f.feature_patch, f.tests_patch) for f in task.features}


def whole_commit(task: Task, scratch: Scratch, whole: WholeFeature) -> str:
    """A commit on the base holding the whole feature (its tests patch, then its source patch)."""
    patches = [(f"feature{whole.id} {name}", patch) for name, patch in
               (("tests.patch", whole.tests_patch), ("feature.patch", whole.feature_patch)) if patch.strip()]
    return commit_patches(scratch, task.base_commit, patches, f"feature{whole.id}")[0]


def union_merges(task: Task, git_dir: Path, wholes: dict[int, WholeFeature], pairs: list[tuple[int, int]]
                 ) -> dict[tuple[int, int], tuple[str, str] | str]:
    """Per pair, (tests patch, feature patch) of git's union merge of the two whole features,
    against the base; or why there is none (a patch that does not apply, a conflict union cannot
    resolve). Each feature is committed once, every merge made in one git process."""
    with scratch_repo(git_dir) as scratch:
        commits, refused = {}, {}
        for i in dict.fromkeys(i for pair in pairs for i in pair):
            try:
                commits[i] = whole_commit(task, scratch, wholes[i])
            except GenerationError as exc:
                refused[i] = str(exc)
        mergeable = [(a, b) for a, b in pairs if a in commits and b in commits]
        merges = dict(zip(mergeable, scratch.merge([(commits[a], commits[b]) for a, b in mergeable], scratch.union_env())))
        unions: dict[tuple[int, int], tuple[str, str] | str] = {}
        for a, b in pairs:
            merge = merges.get((a, b))
            if merge is None:
                unions[(a, b)] = refused[a] if a in refused else refused[b]
            elif merge.conflict:
                unions[(a, b)] = f"the union merge leaves conflicts it cannot keep both sides of in {', '.join(merge.files)}"
            else:
                parsed = diffs.parse_diff(scratch.diff(task.base_commit, merge.tree), "the union merge")
                unions[(a, b)] = (diffs.join([f for f in parsed if diffs.is_test_path(f.path, task.test_patterns)]),
                                  diffs.join([f for f in parsed if not diffs.is_test_path(f.path, task.test_patterns)]))
        return unions


def judge_union(run: testrun.TestRun, base: testrun.TestRun, scope: dict[str, set[str]],
                alone: list[dict[str, str]]) -> tuple[str, dict]:
    """The class of a conflicting pair from its union-merge run, and the evidence. What the merge
    broke is judged against each feature alone (`alone`: the outcomes of each feature's own run,
    its tests with its source), so a test a feature's tests patch rewrites, or one that fails with
    a feature even unmerged, is not laid at the merge's door: a feature's test fails on the merge
    when it passed with some feature alone and does not pass (a skip is no pass: code that raises
    SkipTest proves nothing); another test that passed on the base is broken when it fails on the
    merge and with no feature alone, or when it passed with every feature alone and is skipped or
    gone on the merge."""
    if run.timed_out or run.limit:
        return HARD, {"problem": f"the union merge's test run {'timed out' if run.timed_out else 'hit ' + str(run.limit)}"}
    if run.problem:
        return HARD, {"problem": f"the union merge does not build or run: {run.problem}"}
    if run.tampering or run.unfinished:
        found = "; ".join(run.tampering[:3]) or "the test process ended before pytest finished"
        return HARD, {"problem": f"the merged source reaches into the test runner: {found}"}
    ours = sorted(t for t in run.outcomes if from_tests_patch(t, scope))
    failed = [t for t in ours if run.outcomes[t] != PASSED and any(a.get(t) == PASSED for a in alone)]

    def broken_by_merge(t: str) -> bool:
        outcome = run.outcomes.get(t)
        if outcome in (SKIPPED, None):
            return all(a.get(t) == PASSED for a in alone)
        return outcome != PASSED and all(a.get(t) in (PASSED, SKIPPED, None) for a in alone)

    broken = sorted(t for t, outcome in base.outcomes.items() if outcome == PASSED and t not in ours and broken_by_merge(t))
    evidence = {"tests": len(ours), "failed": failed[:SHOWN], "broken": broken[:SHOWN],
                "failed_count": len(failed), "broken_count": len(broken)}
    if not ours:
        return HARD, {**evidence, "problem": "no test of either feature ran on the union merge"}
    return (HARD if failed or broken else TRIVIAL), evidence


def watched(task: Task, git_dir: Path, source_patch: str) -> dict:
    """The guard's watch list for a run with this source patch (tamper.guard_config)."""
    return tamper.guard_config(source_patch, "the source patch", lambda path: read_blob(git_dir, task.base_commit, path))


def alone_run(task: Task, git_dir: Path, settings: ValidationSettings, whole: WholeFeature) -> dict[str, str]:
    """The outcomes of a whole feature's own run (its tests with its source), kept across
    processes (runcache): candidates classified one after another, in any process, share them."""
    patches = [("tests.patch", whole.tests_patch), ("feature.patch", whole.feature_patch)]
    return runcache.cached_run(task, git_dir, settings, patches, f"feature{whole.id}-alone",
                               watched(task, git_dir, whole.feature_patch), network=task.network)[0].outcomes


def classify_pairs(task: Task, git_dir: Path, wholes: dict[int, WholeFeature], pairs: list[tuple[int, int]],
                   settings: ValidationSettings, *, jobs: int = 2, alone: dict[int, dict[str, str]] | None = None
                   ) -> list[dict]:
    """One record per pair: `{"f1", "f2", "has_conflict", "class", "files", "evidence"}`. A clean
    pair costs one git merge; a conflicting one a union merge and one test run, plus each of its
    features' own run once per process (`alone` gives those already made: a candidate's validation
    has its own); the base run is the validation's, shared."""

    given = alone or {}

    def alone_outcomes(i: int) -> dict[str, str]:
        return given[i] if i in given else alone_run(task, git_dir, settings, wholes[i])

    extra = {str(i): w.feature_patch for i, w in wholes.items() if i not in {f.id for f in task.features}}
    merged = {(int(r.f1), int(r.f2)): r for r in conflict_matrix(task, git_dir, extra=extra)}
    base = base_run(task, git_dir, settings) if any(merged[pair].has_conflict for pair in _ordered(pairs)) else None
    reader = {}

    def base_file(path: str) -> str | None:
        if path not in reader:
            reader[path] = read_blob(git_dir, task.base_commit, path)
        return reader[path]

    unions = union_merges(task, git_dir, wholes, [pair for pair in pairs if merged[_ordered([pair])[0]].has_conflict])

    def one(pair: tuple[int, int]) -> dict:
        a, b = pair
        result = merged[_ordered([pair])[0]]
        record = {"f1": a, "f2": b, "has_conflict": result.has_conflict, "files": result.files}
        if not result.has_conflict:
            return {**record, "class": CLEAN, "evidence": {}}
        union = unions[pair]
        if isinstance(union, str):
            return {**record, "class": HARD, "evidence": {"problem": union}}
        scope = touched_tests(wholes[a].tests_patch, base_file)
        for path, names in touched_tests(wholes[b].tests_patch, base_file).items():
            scope[path] = scope.get(path, set()) | names
        run = runcache.cached_run(task, git_dir, settings, [("tests.patch", union[0]), ("feature.patch", union[1])],
                                  "union", watched(task, git_dir, union[1]), network=task.network)[0]
        kind, evidence = judge_union(run, base, scope, [alone_outcomes(a), alone_outcomes(b)])
        return {**record, "class": kind, "evidence": evidence}

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        return list(pool.map(one, pairs))


def _ordered(pairs: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Pairs as conflict_matrix keys them: existing features in id order, then extras."""
    return [(min(a, b), max(a, b)) for a, b in pairs]


def task_pairs(task: Task) -> list[tuple[int, int]]:
    ids = sorted(f.id for f in task.features)
    return [(a, b) for i, a in enumerate(ids) for b in ids[i + 1:]]


def classify_task(task: Task, git_dir: Path, settings: ValidationSettings, *, candidate: WholeFeature | None = None,
                  jobs: int = 2) -> list[dict]:
    """Every pair of the task's features, or, with a candidate, the candidate against each."""
    wholes = whole_features(task)
    if candidate is None:
        return classify_pairs(task, git_dir, wholes, task_pairs(task), settings, jobs=jobs)
    if candidate.id in wholes:
        raise GenerationError(f"candidate id {candidate.id} is already a feature of {task.name}")
    wholes[candidate.id] = candidate
    return classify_pairs(task, git_dir, wholes, [(f.id, candidate.id) for f in task.features], settings, jobs=jobs)


def class_counts(records: list[dict]) -> dict[str, int]:
    return {kind: sum(r["class"] == kind for r in records) for kind in (CLEAN, TRIVIAL, HARD)}
