"""The real CooperBench tasks of ../shared/real-tasks (pytest, jest and cargo tasks, with their
repositories at the base commit and the benchmark's own conflict verdicts).

Every patch is read; every conflict matrix is the benchmark's; and one feature per runner kind is
validated against the rest of its task on the local backend (the whole table, every feature of
every task, is bench/real_tasks.py)."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest
from conftest import git

from cooperbench.generation.agent.prompt import base_files, find_hotspots, render_prompt
from cooperbench.generation.conflicts.merge import conflict_matrix
from cooperbench.generation.grading.selfcheck import check_feature, check_task
from cooperbench.generation.schemas import ValidationSettings
from cooperbench.generation.tasks.environment import EnvironmentFailure
from cooperbench.generation.tasks.task import check_patches_apply, find_clone, load_task, scan_dataset

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


def validate_real(real_tasks, real_repos, task: str, feature: int, backend: str = "local") -> dict:
    loaded = load_task(real_tasks / "dataset" / task)
    return check_feature(loaded, feature, find_clone(loaded, real_repos), ValidationSettings(backend=backend))


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


def test_a_real_jest_feature_is_valid_against_the_rest_of_its_task(real_tasks, real_repos):
    """react_hook_form task85 feature1: pnpm installed as its Dockerfile does, node_modules kept
    from the build, `pnpm test <file>` as the runner calls it, jest's per-test lines read."""
    verdict = validate_real(real_tasks, real_repos, "react_hook_form_task/task85", 1)
    assert verdict["valid"], verdict["reasons"]
    assert verdict["runs"]["after"]["runners"] == ["jest"]
    f2p = verdict["checks"]["fail_to_pass"]["tests"]
    assert f2p == ["src/__tests__/useForm.test.tsx::useForm > should update async default values for "
                   "controlled components only once in strict mode"]
    assert len(verdict["checks"]["pass_to_pass"]["tests"]) == 60 and verdict["checks"]["pass_to_pass"]["broken"] == []


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
