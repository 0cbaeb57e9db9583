"""Loading tasks in the CooperBench layout, against real git and the shipped demo task."""

from __future__ import annotations

import os
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
from conftest import DEMO, ROOT, assert_one_line_error, git, run_cli

from cooperbench.generation import GenerationError, load_dataset, load_task
from cooperbench.generation.patches.gitutil import run_git
from cooperbench.generation.tasks.task import (
    check_patches_apply,
    find_clone,
    resolve_repo,
    scan_dataset,
    shipped_commit,
)


def test_demo_task_loads():
    task = load_task(DEMO)
    assert task.name == "miniconf_task/task1"
    assert task.task_id == 1
    assert task.image == "akhatua/cooperbench-miniconf:task1"
    assert [f.id for f in task.features] == [1, 2, 3, 4, 5, 6]
    assert task.feature(2).title == "Typed getters on sections"
    assert task.runner == (DEMO / "runner.sh").read_text()


def test_short_name_resolves_under_the_dataset_root():
    assert load_task("miniconf_task/task1", ROOT / "dataset").path == DEMO


def test_shipped_repo_commits_to_the_stable_base_commit(isolated_cache):
    task = load_task(DEMO)
    git_dir = resolve_repo(task)
    assert git_dir.is_relative_to(isolated_cache)
    assert run_git(["rev-parse", "base"], git_dir).stdout.strip() == task.base_commit
    assert shipped_commit(DEMO) == task.base_commit
    assert resolve_repo(task) == git_dir  # cached: same place, no rebuild
    check_patches_apply(task, git_dir)


def test_image_name_follows_the_dataset_convention(demo_copy):
    target = demo_copy.parents[1] / "samuelcolvin_dirty_equals_task" / "task43"
    shutil.move(demo_copy, target)
    assert load_task(target).image == "akhatua/cooperbench-samuelcolvin-dirty-equals:task43"


def test_load_dataset_lists_every_task(demo_copy):
    second = demo_copy.parent / "task7"
    shutil.copytree(demo_copy, second)
    tasks = load_dataset(demo_copy.parents[1])
    assert [t.name for t in tasks] == ["miniconf_task/task1", "miniconf_task/task7"]
    assert [t.name for t in load_dataset(demo_copy)] == ["miniconf_task/task1"]


def test_listing_skips_an_unreadable_task_and_names_it(demo_copy):
    broken = demo_copy.parent / "task7"
    shutil.copytree(demo_copy, broken)
    (broken / "feature2" / "tests.patch").write_text("")
    tasks, problems = scan_dataset(demo_copy.parents[1])
    assert [t.name for t in tasks] == ["miniconf_task/task1"]
    assert len(problems) == 1 and "task7/feature2/tests.patch: empty" in problems[0]


def test_format_patch_features_load_and_apply(demo_copy):
    """`git format-patch` output (mail headers, a series of commits) is read as git apply reads it."""
    patch = demo_copy / "feature2" / "feature.patch"
    body = patch.read_text()
    first, rest = body.split("@@", 1)[0], "@@" + body.split("@@", 1)[1]
    patch.write_text("From 0123456789abcdef0123456789abcdef01234567 Mon Sep 17 00:00:00 2001\n"
                     "From: Someone <s@example.org>\nSubject: [PATCH 1/1] typed getters\n\n---\n"
                     " miniconf/config.py | 20 +++++\n 1 file changed\n\n" + first + rest + "-- \n2.39.5\n")
    task = load_task(demo_copy)
    assert task.feature(2).feature_patch.startswith("From ")
    check_patches_apply(task, resolve_repo(task))


@pytest.mark.parametrize(
    "breakage, message",
    [
        (lambda t: (t / "feature3" / "feature.md").unlink(), "feature3/feature.md: missing"),
        (lambda t: (t / "feature2" / "tests.patch").write_text(""), "feature2/tests.patch: empty"),
        (lambda t: (t / "feature1" / "feature.patch").write_text("diff --git a/x b/x\n--- a/x\n+++ b/x\n@@ -1,3 +1,3 @@\n-a\n"), "feature1/feature.patch: malformed patch"),
        (lambda t: (t / "feature1" / "feature.patch").write_text("just some text\n"), "feature1/feature.patch: not a git diff"),
        (lambda t: (t / "setup.sh").write_text("REPO_NAME=x\n"), "setup.sh: no BASE_COMMIT"),
        (lambda t: (t / "task.yaml").write_text("tests: [1\n"), "task.yaml: invalid YAML"),
        (lambda t: (t / "task.yaml").write_text("tests:\n  framework: cargo\n  command: x\n"), "task.yaml: unknown key `tests.framework`"),
        (lambda t: (t / "task.yaml").write_text("tests:\n  command: x\n  install: pip install -e .\n"), "task.yaml: `tests.install`"),
        (lambda t: [shutil.rmtree(f) for f in t.glob("feature*")], "no feature<K>/ folders"),
    ],
)
def test_broken_tasks_give_one_line_errors(demo_copy, breakage, message):
    breakage(demo_copy)
    with pytest.raises(GenerationError, match=message.replace("[", r"\[").replace("<", "<")) as info:
        load_task(demo_copy)
    assert "\n" not in str(info.value)


def test_edited_shipped_repo_is_caught(demo_copy):
    """Even right after the same process committed the folder (kept by its files' digests): an
    edit of the same size within the same clock tick shows too."""
    task = load_task(demo_copy)
    git_dir = resolve_repo(task)
    assert resolve_repo(task) == git_dir  # kept: no git process
    writer = demo_copy / "repo" / "miniconf" / "writer.py"
    before = writer.stat()
    text = writer.read_text()
    writer.write_text(text[:-2] + ("x" if text[-2] != "x" else "y") + text[-1])
    os.utime(writer, ns=(before.st_atime_ns, before.st_mtime_ns))
    with pytest.raises(GenerationError, match="not BASE_COMMIT"):
        resolve_repo(task)
    writer.write_text(text)
    assert resolve_repo(task) == git_dir


def test_patch_that_does_not_apply_is_named(demo_copy):
    patch = demo_copy / "feature4" / "feature.patch"
    patch.write_text(patch.read_text().replace("last_key = None\n     for lineno", "last_key = None\n     for LINENO"))
    patch.write_text(patch.read_text().replace(" def loads(text):", " def loads(texts):"))
    task = load_task(demo_copy)
    with pytest.raises(GenerationError, match="feature4/feature.patch: does not apply"):
        check_patches_apply(task, resolve_repo(task))


def upstream_style_task(tmp_path: Path, runner: str, base_commit: str) -> Path:
    """A task folder as the public dataset has it: no repo/, the repository cloned elsewhere."""
    task = tmp_path / "dataset" / "demo_task" / "task5"
    task.mkdir(parents=True)
    for feature in DEMO.glob("feature*"):
        shutil.copytree(feature, task / feature.name)
    (task / "setup.sh").write_text(
        "#!/bin/bash\nREPO_NAME=\"demo\"\nBASE_COMMIT=\"%s\"\n"
        "git clone https://example.invalid/demo.git repo\ncd repo && git checkout $BASE_COMMIT\n" % base_commit
    )
    (task / "runner.sh").write_text(runner)
    return task


@pytest.fixture
def local_clone(tmp_path) -> Path:
    """A user's clone: the demo repository as an ordinary git work tree, one extra commit on top."""
    clone = tmp_path / "clone"
    shutil.copytree(DEMO / "repo", clone)
    git(clone, "init", "-q")
    git(clone, "add", "-A")
    env_date = "2024-01-01T00:00:00+0000"
    import os
    import subprocess
    subprocess.run(
        ["git", "commit", "-qm", "base"], cwd=clone, check=True,
        env={**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_AUTHOR_NAME": "CooperBench",
             "GIT_AUTHOR_EMAIL": "cooperbench@localhost", "GIT_AUTHOR_DATE": env_date,
             "GIT_COMMITTER_NAME": "CooperBench", "GIT_COMMITTER_EMAIL": "cooperbench@localhost",
             "GIT_COMMITTER_DATE": env_date},
    )
    (clone / "CHANGES").write_text("later work\n")
    git(clone, "add", "-A")
    git(clone, "commit", "-qm", "later")
    return clone


DSPY_STYLE_RUNNER = """#!/bin/bash
set -e
cd /workspace/repo
git apply "/patches/$TEST_PATCH"
echo "Installing package in editable mode with dev dependencies..."
pip install --upgrade pip
pip install -e ".[dev]"
echo "Running tests..."
timeout 300 python -m pytest "tests/test_parser.py" -v --tb=short
"""

def test_upstream_task_with_a_local_clone(tmp_path, local_clone):
    base = load_task(DEMO).base_commit
    task = load_task(upstream_style_task(tmp_path, DSPY_STYLE_RUNNER, base))
    assert task.upstream_url == "https://example.invalid/demo.git"
    assert task.runner == DSPY_STYLE_RUNNER  # run as it is: no command is read out of it
    git_dir = resolve_repo(task, local_clone)
    check_patches_apply(task, git_dir)


def test_task_yaml_tests_make_a_runner_in_the_dataset_contract(tmp_path):
    folder = upstream_style_task(tmp_path, DSPY_STYLE_RUNNER, "a" * 40)
    (folder / "task.yaml").write_text(
        "tests:\n  command: cargo test\n  install: [cargo fetch]\n"
        "test_patterns: ['spec/*']\n"
    )
    task = load_task(folder)
    assert 'git apply --ignore-whitespace "/patches/$1"' in task.runner
    assert task.runner.rstrip().endswith("cargo fetch\ncargo test")
    assert task.test_patterns == ("spec/*",)


def test_base_commit_absent_from_the_clone(tmp_path, local_clone):
    task = load_task(upstream_style_task(tmp_path, DSPY_STYLE_RUNNER, "b" * 40))
    with pytest.raises(GenerationError, match=r"base commit bbbbbbbbbbbb of demo_task/task5 is not in this repository"):
        resolve_repo(task, local_clone)


def test_unreachable_upstream_says_to_pass_a_clone(tmp_path):
    task = load_task(upstream_style_task(tmp_path, DSPY_STYLE_RUNNER, "b" * 40))
    with pytest.raises(GenerationError, match="cannot clone https://example.invalid/demo.git .*--repo PATH"):
        resolve_repo(task)


def test_task_files_linked_out_of_the_task_are_refused(demo_copy, tmp_path):
    secret = tmp_path / ".env"
    secret.write_text("OPENAI_API_KEY=sk-secret\n")
    description = demo_copy / "feature1" / "feature.md"
    description.unlink()
    description.symlink_to(secret)
    proc = run_cli("tasks", str(demo_copy), "--check")
    assert "a link to outside the task folder" in proc.stderr and "sk-secret" not in proc.stdout + proc.stderr


def test_a_deeply_nested_task_yaml_is_one_line(demo_copy):
    (demo_copy / "task.yaml").write_text("a: " + "[" * 5000 + "]" * 5000 + "\n")
    proc = run_cli("prompt", str(demo_copy), "--out", str(demo_copy / "out"))
    assert_one_line_error(proc, "task.yaml")


@pytest.mark.parametrize("description, title", [
    ("**Title**: Fallbacks of any value\n\nbody", "Fallbacks of any value"),
    ("**Title: feat(mux): add Route groups**\n\nbody", "feat(mux): add Route groups"),
    ("Title: feat(mux): Allow Mux.Handle*\n", "feat(mux): Allow Mux.Handle"),
    ("# Title: Retries*\n", "Retries"),
    ("## Add retries\nbody", "Add retries"),
])
def test_titles_are_read_without_their_label_and_marks(description, title):
    from cooperbench.generation.tasks.task import Feature

    assert Feature(1, Path("f"), description, "", "").title == title


def test_probing_a_partial_clone_for_the_base_commit_fetches_nothing(tmp_path):
    """find_clone asks each clone under a folder whether it holds the base commit. git, asked of
    a partial clone that lacks it, fetches it from the promisor remote (on GitHub, a network call
    for every clone probed); the question is asked in process, so the clone is left as it was and
    the answer is no. The promisor here is a folder that holds the commit: a fetch would succeed."""
    upstream = tmp_path / "upstream"
    upstream.mkdir()
    git(upstream, "init", "-q")
    (upstream / "a.txt").write_text("a\n")
    git(upstream, "add", "a.txt")
    git(upstream, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "a")
    task = replace(load_task(DEMO), base_commit=git(upstream, "rev-parse", "HEAD").strip())
    clone = tmp_path / "clones" / "partial"
    clone.mkdir(parents=True)
    git(clone, "init", "-q")
    for key, value in (("core.repositoryformatversion", "1"), ("extensions.partialclone", "origin"),
                       ("remote.origin.url", str(upstream)), ("remote.origin.promisor", "true")):
        git(clone, "config", key, value)
    with pytest.raises(GenerationError, match="no repository there holds base commit"):
        find_clone(task, tmp_path / "clones")
    objects = clone / ".git" / "objects"
    assert not [p for p in objects.rglob("*") if p.is_file()]  # nothing fetched
