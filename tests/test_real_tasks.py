"""The real CooperBench tasks of ../shared/real-tasks (pytest, jest and cargo tasks, with their
repositories at the base commit and the benchmark's own conflict verdicts).

Every patch is read; every conflict matrix is the benchmark's; and one feature per runner kind is
validated against the rest of its task on the local backend (the whole table, every feature of
every task, is bench/real_tasks.py)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, git

from cooperbench.generation.agent.prompt import base_files, find_hotspots, render_prompt
from cooperbench.generation.conflicts.detect import conflict_matrix
from cooperbench.generation.schemas import ValidationSettings
from cooperbench.generation.tasks.environment import EnvironmentFailure
from cooperbench.generation.tasks.task import check_patches_apply, find_clone, load_task, scan_dataset
from cooperbench.generation.validation.selfcheck import check_feature, check_task, without

pytestmark = pytest.mark.real_tasks

# The benchmark's record says these react_hook_form task85 pairs merge cleanly, but the method it
# states (each source patch on its own branch, `git merge --no-commit`) conflicts on each of them:
# both features insert different lines at the same places of src/types/form.ts.
GOLD_AGAINST_ITS_OWN_METHOD = {("react_hook_form_task", 85, a, b) for a, b in
                               [(2, 3), (2, 4), (2, 5), (3, 4), (3, 5), (4, 5)]}
# A defect of the dataset itself (its README says so): this tests.patch does not apply with git apply.
KNOWN_BROKEN_PATCHES = {"dspy_task/task8563/feature3/tests.patch"}


def test_every_real_task_gets_a_prompt_whose_hot_spots_are_its_base_files_definitions(real_tasks, real_repos):
    """Format-patch series, files without a final newline, Python, TypeScript and Rust: every
    task's prompt is made, and each hot spot definition is one the base file has, shared by two or
    more features."""
    tasks, _ = scan_dataset(real_tasks / "dataset")
    for task in tasks:
        base = base_files(task, find_clone(task, real_repos))
        hotspots = find_hotspots(task, base)
        assert hotspots["functions"] and render_prompt(task, hotspots), task.name
        for spot in hotspots["functions"]:
            assert len(spot["features"]) >= 2 and spot["function"] in base(spot["file"]), (task.name, spot)


def test_every_real_patch_is_read_and_applies(real_tasks, real_repos):
    tasks, problems = scan_dataset(real_tasks / "dataset")
    assert problems == [] and len(tasks) == 13
    assert any(f.feature_patch.startswith("From ") for t in tasks for f in t.features)  # format-patch files
    for task in tasks:
        try:
            check_patches_apply(task, find_clone(task, real_repos))
        except Exception as exc:
            assert any(known in str(exc) for known in KNOWN_BROKEN_PATCHES), exc


def test_the_in_process_engine_merges_as_a_loop_of_git_processes(real_tasks, real_repos):
    """Every pair of every real task: the engine (patches applied by libgit2, every merge of a task
    in one `git merge-tree --stdin`) gives the verdict, the files and the conflict regions that one
    git process per apply and per merge gives (bench/conflicts.py times both)."""
    sys.path.insert(0, str(ROOT / "bench"))
    from conflicts import engine, plain_loop

    tasks, _ = scan_dataset(real_tasks / "dataset")
    for task in tasks:
        git_dir = find_clone(task, real_repos)
        assert engine(task, git_dir) == plain_loop(task, git_dir), task.name


def test_conflict_matrices_equal_the_benchmarks_verdicts(real_tasks, real_repos, tmp_path):
    gold = json.loads((real_tasks / "gold-conflicts.json").read_text())["pairs"]
    tasks, _ = scan_dataset(real_tasks / "dataset")
    disagree = set()
    for task in tasks:
        ours = {(int(r.f1), int(r.f2)): r.has_conflict for r in conflict_matrix(task, find_clone(task, real_repos))}
        for pair in (p for p in gold if p["repo"] == task.repo_name and p["task_id"] == task.task_id):
            if ours[(pair["f1"], pair["f2"])] != pair["has_conflict"]:
                disagree.add((task.repo_name, task.task_id, pair["f1"], pair["f2"]))
    assert len(gold) == 181
    assert disagree == GOLD_AGAINST_ITS_OWN_METHOD
    # for those, the stated method itself (real branches, a real merge) conflicts, as we say
    task = load_task(real_tasks / "dataset" / "react_hook_form_task" / "task85")
    work = tmp_path / "repo"
    shutil.copytree(find_clone(task, real_repos).parent, work, symlinks=True)
    git(work, "config", "user.email", "t@t")
    git(work, "config", "user.name", "t")
    for feature in (2, 3):
        git(work, "checkout", "-q", "-b", f"f{feature}", task.base_commit)
        (tmp_path / "p").write_text(task.feature(feature).feature_patch)
        git(work, "apply", str(tmp_path / "p"))
        git(work, "commit", "-qam", f"feature{feature}")
    git(work, "checkout", "-q", "f2")
    merge = subprocess.run(["git", "merge", "--no-commit", "f3"], cwd=work, capture_output=True, text=True)
    assert merge.returncode != 0 and "CONFLICT (content): Merge conflict in src/types/form.ts" in merge.stdout


def validate_real(real_tasks, real_repos, task: str, feature: int, leave_out: int | None = None) -> dict:
    """One feature against the rest of its task (but `leave_out`), each run made once and no part
    check: the runner's kind is what these tests check (reruns and the part check have a test of
    their own on a real task, below)."""
    loaded = load_task(real_tasks / "dataset" / task)
    rest = loaded if leave_out is None else without(loaded, leave_out)
    return check_feature(rest, feature, find_clone(loaded, real_repos),
                         ValidationSettings.of(reruns=1, check_parts=False))


def test_a_real_pytest_feature_is_valid_against_the_rest_of_its_task(real_tasks, real_repos):
    """dspy task8394 feature1: the runner's own selection (a main test file, then secondary
    files only with a feature), its pip installs served from the environment."""
    verdict = validate_real(real_tasks, real_repos, "dspy_task/task8394", 1)
    assert verdict["valid"], verdict["reasons"]
    checks = verdict["checks"]
    assert checks["fail_to_pass"]["tests"] and checks["pass_to_pass"]["broken"] == []
    assert all("test_cache" in t for t in checks["fail_to_pass"]["tests"])
    assert verdict["runs"]["after"]["runners"] == ["pytest"]
    assert verdict["conflict_result"]["conflicts"] == [2, 4, 5]
    classes = {p["feature"]: p["class"] for p in verdict["conflict_result"]["pairs"] if p.get("class")}
    assert classes == {2: "trivial", 4: "trivial", 5: "trivial"}  # the union merge passes both suites each time
    assert all(not p["evidence"]["failed"] and p["evidence"]["tests"] for p in verdict["conflict_result"]["pairs"] if p.get("class"))


ORDER_DEPENDENT = """

_CB_SEEN = []
""" + "".join(f"""

def test_cb_seen_{i}():
    _CB_SEEN.append({i})
""" for i in range(5)) + """

def test_cb_bypass_after_the_others(cache):
    assert len(_CB_SEEN) == 5, "passes only after the five tests above"
    test_cache_bypass_context_manager(cache)
"""
UNUSED_MODULE = """diff --git a/dspy/clients/cache_stats.py b/dspy/clients/cache_stats.py
new file mode 100644
--- /dev/null
+++ b/dspy/clients/cache_stats.py
@@ -0,0 +1,3 @@
+def hit_ratio(hits, misses):
+    total = hits + misses
+    return hits / total if total else 0.0
"""


def test_a_real_feature_made_flaky_or_padded_is_caught(real_tasks, real_repos, tmp_path):
    """dspy task8394 feature1, twice changed on purpose, against features 2 and 3 (2 conflicts with
    it: one pair to classify, not 3): (1) a fail-to-pass test that passes only after five other
    tests of its file: its reruns in shuffled orders fail it, so the feature is not valid
    (flaky_tests); (2) a module no test imports added to feature.patch: the feature is valid and
    that file is its unneeded part (leaving out cache.py fails the tests)."""
    from cooperbench.generation.validation.candidate import validate_candidate

    task = load_task(real_tasks / "dataset" / "dspy_task" / "task8394")
    git_dir = find_clone(task, real_repos)
    feature = task.feature(1)
    work = tmp_path / "work"
    subprocess.run(["git", f"--git-dir={git_dir}", "worktree", "add", "-q", "--detach", str(work), task.base_commit],
                   check=True, capture_output=True)
    subprocess.run(["git", "apply"], input=feature.tests_patch, cwd=work, check=True, text=True, capture_output=True)
    with open(work / "tests" / "clients" / "test_cache.py", "a", encoding="utf-8") as handle:
        handle.write(ORDER_DEPENDENT)
    flaky_tests = subprocess.run(["git", "diff"], cwd=work, check=True, capture_output=True, text=True).stdout
    subprocess.run(["git", f"--git-dir={git_dir}", "worktree", "remove", "--force", str(work)], check=True)
    rest = without(without(without(task, 1), 4), 5)  # feature 2 still conflicts: one pair classified, not three
    flaky = validate_candidate(rest, feature.feature_patch, flaky_tests, git_dir=git_dir,
                               settings=ValidationSettings(reruns=2))  # one shuffled order is enough here
    assert flaky["reason_keys"] == ["flaky_tests"], flaky["reasons"]
    assert list(flaky["checks"]["fail_to_pass"]["flaky"]) == ["tests/clients/test_cache.py::test_cb_bypass_after_the_others"]
    padded = validate_candidate(rest, feature.feature_patch + UNUSED_MODULE, feature.tests_patch, git_dir=git_dir,
                                settings=ValidationSettings(reruns=1))  # the part check alone
    assert padded["valid"], padded["reasons"]
    needed = padded["checks"]["needed"]
    assert needed["unneeded"] == ["dspy/clients/cache_stats.py"]
    assert [p["part"] for p in needed["parts"] if p["needed"]] == ["dspy/clients/cache.py"]


def test_a_real_feature_judged_and_a_real_pair_given_to_a_team(real_tasks, real_repos, tmp_path):
    """dspy task8394, offline with replayed sessions: the judge of feature 1 reads its
    description, tests and the base code they reach (dspy/clients/cache.py) and labels it; a team
    whose two solvers each write what the feature's author wrote (features 1 and 2) ends in a
    merge conflict, as the benchmark's record says the pair conflicts."""
    import json

    from test_agent import SUBMIT, write_session

    from cooperbench.generation.agent.coop import MERGE_CONFLICT, run_team
    from cooperbench.generation.agent.judge import judge, shipped_template
    from cooperbench.generation.conflicts.classify import whole_features
    from cooperbench.generation.schemas import AgentSettings, ModelParams

    folder = tmp_path / "dataset" / "dspy_task" / "task8394"
    shutil.copytree(real_tasks / "dataset" / "dspy_task" / "task8394", folder)
    (folder / "replays").mkdir()
    (folder / "replays" / "judge.traj.json").write_text(json.dumps({"trajectory_format": "mini-swe-agent-1.1", "messages": [
        {"role": "assistant", "content": '{"label": "underspecified", "reasons": "the bypass name is never stated"}'}]}))
    task = load_task(folder)
    git_dir = find_clone(task, real_repos)
    for k in (1, 2):
        write_session(folder / "replays" / f"solve.feature{k}.traj.json",
                      [f"git apply <<'PATCH'\n{task.feature(k).feature_patch}PATCH", SUBMIT])
    feature = task.feature(1)
    found = judge(task, git_dir, feature.description, feature.feature_patch, feature.tests_patch, ModelParams(name="replay/judge"),
                  shipped_template(), tmp_path / "judge.json")
    assert found["label"] == "underspecified"
    prompt = json.loads((tmp_path / "judge.json").read_text())["messages"][0]["content"]
    assert "### dspy/clients/cache.py" in prompt and "import contextvars" not in prompt  # the base, never the change
    wholes = whole_features(task)
    record = run_team(task, git_dir, (wholes[1], wholes[2]), {k: task.feature(k).description for k in (1, 2)},
                      AgentSettings.of("replay/solve"), ValidationSettings.of(reruns=1),
                      {k: tmp_path / f"feature{k}.traj.json" for k in (1, 2)})
    assert record["status"] == MERGE_CONFLICT and "dspy/clients/cache.py" in record["evidence"]["conflicting_files"]


def test_real_pairs_classified_as_a_union_merge_by_hand_runs(real_tasks, real_repos, tmp_path):
    """dspy task8394 (pytest): git's union merge of two whole features done by hand in a work tree
    (`git merge` with `* merge=union`), its diff run in the task's runner; a pair is trivial
    exactly when no test fails there that passed on the bare base and with each feature alone
    (each feature's own run as the classifier kept it). One trivial pair, one hard (the task's 9
    conflicting pairs, 7 trivial and 2 hard, are bench/conflict_classes.py's figure)."""
    from cooperbench.generation.conflicts.classify import alone_run, classify_pairs, whole_features
    from cooperbench.generation.grading import testrun
    from cooperbench.generation.grading.baseline import base_run
    from cooperbench.generation.grading.outcomes import PASSED, SKIPPED
    from cooperbench.generation.patches import diffs
    from cooperbench.generation.sandbox.backends import open_sandbox

    task = load_task(real_tasks / "dataset" / "dspy_task" / "task8394")
    git_dir = find_clone(task, real_repos)
    wholes = whole_features(task)
    records = classify_pairs(task, git_dir, wholes, [(1, 2), (4, 5)], ValidationSettings())
    assert [r["class"] for r in records] == ["trivial", "hard"], records
    base = base_run(task, git_dir, ValidationSettings()).outcomes
    for record in records:
        work = tmp_path / f"{record['f1']}-{record['f2']}"
        # a worktree (the real repositories are partial clones, which do not clone)
        subprocess.run(["git", f"--git-dir={git_dir}", "worktree", "add", "-q", "--detach", str(work), task.base_commit],
                       check=True, capture_output=True)

        def run(*args: str) -> str:
            return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=work, check=True,
                                  capture_output=True, text=True).stdout

        for branch, feature in (("one", record["f1"]), ("two", record["f2"])):
            run("checkout", "-q", "-B", branch, task.base_commit)
            for patch in (task.feature(feature).tests_patch, task.feature(feature).feature_patch):
                subprocess.run(["git", "apply"], input=patch, cwd=work, check=True, text=True, capture_output=True)
            run("add", "-A")
            run("commit", "-qm", f"feature{feature}")
        (tmp_path / "union").write_text("* merge=union\n")
        run("-c", f"core.attributesFile={tmp_path / 'union'}", "merge", "-q", "--no-edit", "one")
        merged = diffs.parse_diff(run("diff", "--binary", task.base_commit, "HEAD"), "the merge by hand")
        tests = diffs.join([f for f in merged if diffs.is_test_path(f.path, task.test_patterns)])
        source = diffs.join([f for f in merged if not diffs.is_test_path(f.path, task.test_patterns)])
        with open_sandbox(task, "local", git_dir) as sandbox:
            outcome = testrun.run_tests(sandbox, [("tests.patch", tests), ("feature.patch", source)], "merged", 300).outcomes
        alone = [alone_run(task, git_dir, ValidationSettings(), wholes[f]) for f in (record["f1"], record["f2"])]  # kept
        failing = [t for t, o in outcome.items() if o not in (PASSED, SKIPPED) and base.get(t) in (PASSED, None)
                   and all(a.get(t) in (PASSED, SKIPPED, None) for a in alone) or
                   o not in (PASSED, SKIPPED) and any(a.get(t) == PASSED for a in alone)]
        subprocess.run(["git", f"--git-dir={git_dir}", "worktree", "remove", "--force", str(work)], check=True)
        assert (record["class"] == "trivial") == (bool(outcome) and not failing), (record, failing[:3])


def test_a_real_jest_feature_is_valid_against_the_rest_of_its_task(real_tasks, real_repos):
    """react_hook_form task85 feature1 against features 2-4: pnpm installed as its Dockerfile
    does, node_modules kept from the build, `pnpm test <file>` as the runner calls it, jest's
    per-test lines read. (Feature 5, a third hard pair like 2's, left out: two jest runs fewer.)"""
    verdict = validate_real(real_tasks, real_repos, "react_hook_form_task/task85", 1, leave_out=5)
    assert verdict["valid"], verdict["reasons"]
    assert verdict["runs"]["after"]["runners"] == ["jest"]
    f2p = verdict["checks"]["fail_to_pass"]["tests"]
    assert f2p == ["src/__tests__/useForm.test.tsx::useForm > should update async default values for "
                   "controlled components only once in strict mode"]
    assert len(verdict["checks"]["pass_to_pass"]["tests"]) == 60 and verdict["checks"]["pass_to_pass"]["broken"] == []
    pairs = {p["feature"]: p for p in verdict["conflict_result"]["pairs"] if p.get("class")}
    assert {k: p["class"] for k, p in pairs.items()} == {2: "hard", 3: "trivial", 4: "hard"}  # jest's classes
    assert pairs[2]["evidence"]["failed"] == f2p  # feature 1's test fails on the union merge with feature 2
    assert "the test file failed to run" in pairs[4]["evidence"]["problem"]  # the merged file does not even load


def test_a_real_cargo_task_names_what_cannot_be_had_here(real_tasks, real_repos):
    """typst task6554: Rust builds need crates.io, which this machine cannot reach: an environment
    failure naming the cause, not a verdict on the feature."""
    with pytest.raises(EnvironmentFailure, match="Dockerfile line 25: cargo build .*the Rust crate registry cannot be reached"):
        validate_real(real_tasks, real_repos, "typst_task/task6554", 1)


def test_an_environment_row_still_gets_its_conflicts(real_tasks, real_repos):
    """check-dataset on typst: the environment cannot be built here, yet conflicts need no
    sandbox, so the row names them (as the benchmark's record has them)."""
    task = load_task(real_tasks / "dataset" / "typst_task" / "task6554")
    [row] = check_task(task, real_repos, ValidationSettings(), [1])
    gold = json.loads((real_tasks / "gold-conflicts.json").read_text())["pairs"]
    expected = sorted({p["f2"] if p["f1"] == 1 else p["f1"] for p in gold if p["repo"] == "typst_task"
                       and p["task_id"] == 6554 and 1 in (p["f1"], p["f2"]) and p["has_conflict"]})
    assert row.outcome == "environment" and row.conflicts == ",".join(map(str, expected)) and expected


def test_an_agent_on_a_partial_sparse_clone_is_checked_as_the_pipeline_checks(real_tasks, real_repos):
    """dspy's clone is partial and sparse (a file over 4 MB never fetched, left out of the work
    tree): an agent's work tree diff holds its own changes only, and cooperbench-verify in its
    sandbox says what the verdict says (feature 1 against the rest: every conflict trivial). Each
    test run once and no part check: reruns and the part check on a real task have their own test."""
    from cooperbench.generation.agent.verify import RULE, Verifier
    from cooperbench.generation.core.contract import DESCRIPTION_FILE
    from cooperbench.generation.patches.diffs import parse_diff
    from cooperbench.generation.sandbox.backends import open_sandbox
    from cooperbench.generation.sandbox.worktree import work_tree_diff

    task = load_task(real_tasks / "dataset" / "dspy_task" / "task8394")
    rest, feature, git_dir = without(task, 1), task.feature(1), find_clone(task, real_repos)
    with open_sandbox(rest, "local", git_dir) as sandbox:
        sandbox.write_file("/tmp/work.patch", (feature.tests_patch + feature.feature_patch).encode())
        sandbox.write_file(DESCRIPTION_FILE, feature.description.encode())
        assert sandbox.run("git apply /tmp/work.patch", timeout=60).ok
        diff, problem = work_tree_diff(sandbox, task.base_commit)
        checks = ValidationSettings.of(require=RULE, reruns=1, check_parts=False)  # as verifier_for's, but those
        answer = json.loads(Verifier(rest, git_dir, checks, limit=1).answer(sandbox, ["--json"]))
    own = {f.path for patch in (feature.tests_patch, feature.feature_patch) for f in parse_diff(patch, "patch")}
    assert problem is None and {f.path for f in parse_diff(diff, "the diff")} == own | {DESCRIPTION_FILE}
    assert answer["source_files"] and answer["test_files"] and set(answer["source_files"] + answer["test_files"]) == own
    assert answer["conflicts"] == [2, 4, 5] and set(answer["classes"].values()) == {"trivial"}
    assert answer["fail_to_pass"] and answer["broken"] == []
    assert not answer["valid"] and answer["reasons"][0].startswith("every conflict is trivial")


def test_the_release_export_gives_the_real_tasks_back_byte_for_byte(real_tasks, tmp_path):
    """export-release of the real dataset: every file the benchmark ships (pillow's
    test_features.sh included), nothing more but the manifest, each byte the same."""
    from cooperbench.generation.pipeline.export import MANIFEST, export_release

    tasks, problems = scan_dataset(real_tasks / "dataset")
    assert not problems and len(tasks) == 13
    assert export_release(tasks, tmp_path / "release") == []  # no generated feature among them

    def files(root):
        return {p.relative_to(root): p.read_bytes() for p in root.rglob("*") if p.is_file()}

    shipped = {path: data for path, data in files(real_tasks / "dataset").items() if path.parts[0] in {t.repo_name for t in tasks}}
    assert files(tmp_path / "release") == {**shipped, Path(MANIFEST): b"[]\n"}
