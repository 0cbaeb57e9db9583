"""The conflict engine against real git: known pairs of the demo task, candidates, the CLI."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import DEMO, ROOT, assert_one_line_error, run_cli

from cooperbench.generation import GenerationError, load_task
from cooperbench.generation.conflicts.classify import class_counts, classify_task
from cooperbench.generation.conflicts.detect import candidate_conflicts, conflict_matrix, render_table
from cooperbench.generation.schemas import ValidationSettings
from cooperbench.generation.tasks.task import resolve_repo

CANDIDATES = ROOT / "tests" / "data" / "candidates"


@pytest.fixture(scope="module")
def demo():
    task = load_task(DEMO)
    return task, resolve_repo(task)


def test_demo_matrix_has_the_designed_conflicts(demo):
    results = conflict_matrix(*demo)
    assert len(results) == 15
    conflicting = {(r.f1, r.f2): (r.files, r.regions) for r in results if r.has_conflict}
    assert conflicting == {
        ("1", "5"): (["miniconf/parser.py"], 1),
        ("2", "3"): (["miniconf/config.py"], 2),
        ("4", "6"): (["miniconf/parser.py"], 2),
    }


def test_matrix_agrees_with_a_plain_git_merge(demo, tmp_path):
    """The seed's way (branches, git apply, git merge --no-commit) gives the same answer."""
    import subprocess
    task, git_dir = demo
    work = tmp_path / "w"
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t",
           "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    sh = lambda *a: subprocess.run(a, cwd=work, env=env, capture_output=True, text=True)
    subprocess.run(["git", "clone", "-q", str(git_dir), str(work)], check=True)
    for f in task.features:
        sh("git", "checkout", "-q", "-b", f"f{f.id}", task.base_commit)
        (tmp_path / "p").write_text(f.feature_patch)
        assert sh("git", "apply", str(tmp_path / "p")).returncode == 0
        sh("git", "commit", "-qam", f"f{f.id}")
    for r in conflict_matrix(task, git_dir):
        sh("git", "checkout", "-q", f"f{r.f1}")
        merged = sh("git", "merge", "--no-commit", "--no-ff", f"f{r.f2}")
        assert (merged.returncode != 0) == r.has_conflict, (r, merged.stdout)
        sh("git", "merge", "--abort")
        sh("git", "reset", "-q", "--hard")


def test_candidate_against_features(demo):
    task, git_dir = demo
    result = candidate_conflicts(task, git_dir, (CANDIDATES / "valid" / "feature.patch").read_text())
    assert result["conflicts"] == [2, 3]
    assert result["copy_of"] is None
    assert [p["feature"] for p in result["pairs"]] == [1, 2, 3, 4, 5, 6]


def test_copy_of_an_existing_feature_is_detected(demo):
    task, git_dir = demo
    assert candidate_conflicts(task, git_dir, task.feature(4).feature_patch)["copy_of"] == 4


def test_test_files_are_left_out_of_the_merge(demo):
    task, git_dir = demo
    # Every feature's tests.patch appends to tests/test_parser.py or test_config.py; merged as
    # source they would conflict. Within a feature.patch they must be ignored.
    candidate = (CANDIDATES / "no_conflict" / "feature.patch").read_text() + task.feature(1).tests_patch
    assert candidate_conflicts(task, git_dir, candidate)["conflicts"] == []


def test_a_patch_that_does_not_apply_is_named(demo):
    task, git_dir = demo
    broken = task.feature(1).feature_patch.replace(" def _parse_value(value):", " def _parse_value(val):")
    with pytest.raises(GenerationError, match="candidate feature.patch: does not apply"):
        candidate_conflicts(task, git_dir, broken)


def test_table_rendering(demo):
    table = render_table(conflict_matrix(*demo))
    assert table.splitlines()[1] == "1 - . . . X ."
    assert table.endswith("15 pairs: 3 conflicting, 12 clean\n")


def test_conflicts_cli_json(tmp_path):
    out = tmp_path / "m.json"
    proc = run_cli("conflicts", "miniconf_task/task1", "--candidate", str(CANDIDATES / "valid" / "feature.patch"), "--json", str(out))
    assert proc.returncode == 0, proc.stderr
    pairs = json.loads(out.read_text())
    assert len(pairs) == 21
    assert {"f1": 2, "f2": 7, "has_conflict": True, "files": ["miniconf/config.py"], "regions": 1} in pairs
    assert all(isinstance(pair[key], int) for pair in pairs for key in ("f1", "f2"))  # the candidate: the next id
    assert "21 pairs: 5 conflicting, 16 clean" in proc.stdout and "feature7: the candidate" in proc.stdout


def test_conflicts_cli_with_a_local_clone(tmp_path):
    proc = run_cli("conflicts", "miniconf_task/task1", "--repo", str(tmp_path / "missing"))
    assert_one_line_error(proc, "no such repository folder")


def test_second_demo_task_matrix():
    task = load_task(DEMO.parents[1] / "durations_task" / "task1")
    conflicting = {(r.f1, r.f2) for r in conflict_matrix(task, resolve_repo(task)) if r.has_conflict}
    assert conflicting == {("1", "2"), ("2", "3")}


def merge_by_hand(git_dir, task, a: int, b: int, work) -> bool:
    """Git's union merge of two whole features done as a person would (a work tree, two branches,
    `git merge` with `* merge=union` in info/attributes), then the tests run on the merged tree:
    True when they all pass. An implementation apart from classify.py's, to check it against."""
    def git(*args):
        return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=work, check=True,
                              capture_output=True, text=True)
    subprocess.run(["git", "clone", "-q", str(git_dir), str(work)], check=True)
    git("checkout", "-q", "-b", "one", task.base_commit)
    for branch, feature in (("one", a), ("two", b)):
        if branch == "two":
            git("checkout", "-q", "-b", "two", task.base_commit)
        for patch in (task.feature(feature).tests_patch, task.feature(feature).feature_patch):
            subprocess.run(["git", "apply"], input=patch, cwd=work, check=True, text=True)
        git("add", "-A")
        git("commit", "-qm", f"feature{feature}")
    (work / ".git" / "info" / "attributes").write_text("* merge=union\n")
    git("merge", "-q", "--no-edit", "one")
    tests = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"], cwd=work,
                           capture_output=True, text=True)
    return tests.returncode == 0


@pytest.mark.slow
def test_classes_agree_with_a_union_merge_done_by_hand(demo, tmp_path):
    """Every conflicting pair of the demo task: trivial exactly when the union merge done by hand
    passes the tests; the evidence names what failed."""
    task, git_dir = demo
    records = classify_task(task, git_dir, ValidationSettings())
    assert class_counts(records) == {"clean": 12, "trivial": 2, "hard": 1}
    for r in records:
        if r["has_conflict"]:
            by_hand = merge_by_hand(git_dir, task, r["f1"], r["f2"], tmp_path / f"{r['f1']}-{r['f2']}")
            assert (r["class"] == "trivial") == by_hand, r
    hard = next(r for r in records if r["class"] == "hard")
    assert (hard["f1"], hard["f2"]) == (1, 5) and hard["evidence"]["failed"] == ["tests/test_parser.py::test_inline_comments_are_removed"]


def test_classify_cli_with_a_candidate(tmp_path):
    out = tmp_path / "classes.json"
    proc = run_cli("conflicts", "miniconf_task/task1", "--classify", "--candidate", str(CANDIDATES / "valid" / "feature.patch"),
                   "--candidate-tests", str(CANDIDATES / "valid" / "tests.patch"), "--json", str(out))
    assert proc.returncode == 0, proc.stderr
    records = {(r["f1"], r["f2"]): r for r in json.loads(out.read_text())}
    assert records[(2, 7)]["class"] == "trivial" and records[(3, 7)]["class"] == "hard"
    assert "IndentationError" in records[(3, 7)]["evidence"]["problem"]  # the union keeps both sides: no longer Python
    assert "6 pairs: 4 clean, 1 trivial, 1 hard" in proc.stdout
    lonely = run_cli("conflicts", "miniconf_task/task1", "--classify", "--candidate", str(CANDIDATES / "valid" / "feature.patch"))
    assert_one_line_error(lonely, "needs both --candidate and --candidate-tests")


@pytest.mark.slow
def test_quality_audit_of_the_demo_dataset(tmp_path):
    proc = run_cli("check-dataset", "dataset", "--quality", "--json", str(tmp_path / "q.json"))
    assert proc.returncode == 0, proc.stderr
    assert "| miniconf_task/task1 | 15 | 3 | 2 | 1 | 2, 3, 4, 6 |" in proc.stdout
    assert "2 tasks: 5 conflicting pairs, 3 trivial, 2 hard (60% of them trivial)" in proc.stdout
    audit = json.loads((tmp_path / "q.json").read_text())
    rows = {row["task"]: row for row in audit["tasks"]}
    assert len(rows["durations_task/task1"]["pairs"]) == 6
    assert {(f["task"], f["feature"]) for f in audit["features"]} >= {("durations_task/task1", 2)}
