"""Hot spots on known patches, and a prompt that is byte-identical for the same inputs."""

from __future__ import annotations

import json

from conftest import DEMO, git, run_cli

from cooperbench.generation import find_hotspots, load_task, render_prompt
from cooperbench.generation.agent.prompt import base_files, changed_regions
from cooperbench.generation.tasks.task import resolve_repo


def test_regions_use_base_line_numbers():
    task = load_task(DEMO)
    regions = changed_regions(5, task.feature(5).feature_patch, "feature5")
    # feature5 adds QUOTES/ESCAPES after _parse_assignment, then rewrites _parse_value's body.
    assert [(r.start, r.end) for r in regions] == [(63, 64), (65, 66), (66, 67)]


def test_hot_spots_are_the_base_files_definitions_where_two_features_meet(tmp_path):
    """Hunk headers name the enclosing class (or the function above) for a change deep inside a
    method; the base file names the method. Only places two or more features change count, and
    the prompt names each feature's title once (in the list), hot spots by number."""
    repo = tmp_path / "r"
    repo.mkdir()
    git(repo, "init", "-q")
    body = "".join(f"        step{i} = {i}\n" for i in range(8))
    base = f"class Parser:\n    def parse(self):\n{body}        return step7\n\n    def other(self):\n{body}        return 0\n"
    (repo / "p.py").write_text(base)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "base")
    task_dir = tmp_path / "dataset" / "p_task" / "task1"
    edits = {1: ("step5 = 5", "step5 = 50"), 2: ("step6 = 6", "step6 = 60"), 3: ("return 0", "return 1")}
    for feature, (old, new) in edits.items():
        (repo / "p.py").write_text(base.replace(old, new, 1) if feature != 3 else base[::-1].replace(old[::-1], new[::-1], 1)[::-1])
        folder = task_dir / f"feature{feature}"
        folder.mkdir(parents=True)
        (folder / "feature.patch").write_text(git(repo, "diff"))
        (folder / "tests.patch").write_text("diff --git a/tests/test_p.py b/tests/test_p.py\nnew file mode 100644\n"
                                            "--- /dev/null\n+++ b/tests/test_p.py\n@@ -0,0 +1 @@\n+x = 1\n")
        (folder / "feature.md").write_text(f"**Title**: Feature number {feature}\n")
        git(repo, "checkout", "-q", "p.py")
    commit = git(repo, "rev-parse", "HEAD").strip()
    (task_dir / "setup.sh").write_text(f"BASE_COMMIT={commit}\n")
    (task_dir / "runner.sh").write_text("python -m pytest tests\n")
    task = load_task(task_dir)
    assert "@@ class Parser:" in task.feature(1).feature_patch  # what git's hunk header names
    with_base = find_hotspots(task, base_files(task, repo / ".git"))
    assert with_base["functions"] == [{"file": "p.py", "function": "parse", "features": [1, 2]}]
    assert with_base["files"] == [{"file": "p.py", "features": [1, 2, 3]}]
    assert find_hotspots(task)["functions"] == [{"file": "p.py", "function": "Parser", "features": [1, 2, 3]}]
    text = render_prompt(task, with_base)
    assert "`parse` in `p.py` (feature1, feature2)" in text
    assert all(text.count(f"Feature number {i}") == 1 for i in (2, 3))  # feature1's is also the example


def test_demo_hotspots_match_the_known_overlaps():
    task = load_task(DEMO)
    hotspots = find_hotspots(task, base_files(task, resolve_repo(task)))
    assert hotspots["files"] == [
        {"file": "miniconf/parser.py", "features": [1, 4, 5, 6]},
        {"file": "miniconf/config.py", "features": [2, 3]},
    ]
    shared_functions = {(h["function"], tuple(h["features"])) for h in hotspots["functions"]}
    # feature 2 adds methods after `get`, which feature 3 edits: a shared line range, no shared definition
    assert shared_functions == {("loads", (4, 6)), ("_parse_value", (1, 5)), ("_parse_assignment", (1, 5))}
    pairs = {tuple(r["features"]) for r in hotspots["line_ranges"]}
    assert pairs == {(1, 5), (2, 3), (4, 6)}  # exactly the three pairs that conflict under git merge
    for shared in hotspots["line_ranges"]:
        assert shared["start"] <= shared["end"]


def test_test_files_are_not_hotspots(demo_copy):
    # Every feature's tests.patch touches tests/test_*.py; as source, they would dominate.
    for feature in demo_copy.glob("feature*"):
        patch = (feature / "feature.patch").read_text() + (feature / "tests.patch").read_text()
        (feature / "feature.patch").write_text(patch)
    files = [h["file"] for h in find_hotspots(load_task(demo_copy))["files"]]
    assert not any(f.startswith("tests/") for f in files)


def test_prompt_names_hotspots_format_and_rules():
    task = load_task(DEMO)
    text = render_prompt(task, find_hotspots(task, base_files(task, resolve_repo(task))))
    assert "`miniconf/parser.py` lines 24-25 (feature4, feature6)" in text
    assert "`loads` in `miniconf/parser.py` (feature4, feature6)" in text
    assert ".feature_description.md" in text
    assert "Title, Description, API Changes, Implementation Details, Files Modified" in text
    assert "python -m pytest tests/test_parser.py" in text
    assert task.feature(1).description.strip() in text
    assert "${" not in text.replace("`${key}`", "")  # every placeholder substituted


def test_prompt_is_byte_identical_across_processes(tmp_path):
    outputs = []
    for seed in ("1", "2"):
        out = tmp_path / seed
        proc = run_cli("prompt", str(DEMO), "--out", str(out), PYTHONHASHSEED=seed)
        assert proc.returncode == 0, proc.stderr
        outputs.append(((out / "prompt.md").read_bytes(), (out / "hotspots.json").read_bytes()))
    assert outputs[0] == outputs[1]
    assert json.loads(outputs[0][1])["task"] == "miniconf_task/task1"


def test_prompt_only_prints_the_prompt():
    proc = run_cli("--task", "miniconf_task/task1", "--prompt-only")
    assert proc.returncode == 0, proc.stderr
    task = load_task(DEMO)
    assert proc.stdout == render_prompt(task, find_hotspots(task, base_files(task, resolve_repo(task))))


def test_a_format_patch_series_is_read_as_git_apply_reads_it(tmp_path):
    """A feature of two commits touching one file (`git format-patch --stdout`): the mail text
    between the commits (the blank line, the next commit's headers) is no part of any hunk."""
    repo = tmp_path / "r"
    repo.mkdir()
    git(repo, "init", "-q")
    (repo / "m.py").write_text("".join(f"def f{i}():\n    return {i}\n\n\n" for i in range(20)))
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "base")
    for number, commit in ((2, "one"), (15, "two")):
        text = (repo / "m.py").read_text().replace(f"    return {number}\n", f"    return {number} * 10\n")
        (repo / "m.py").write_text(text)
        git(repo, "commit", "-qam", commit)
    series = git(repo, "format-patch", "--stdout", "--no-signature", "HEAD~2")  # as GitHub's .patch files are
    assert series.count("diff --git") == 2 and "\n\nFrom " in series
    regions = changed_regions(1, series, "feature.patch")
    assert [(r.start, r.end) for r in regions] == [(10, 11), (62, 63)]
