"""A candidate's patches read against the base repository before anything runs: the harness files
they change (harness.py), what a source patch may not hold (tamper.screen) and what the guard
watches while it runs (tamper.guard_config). Binary patches are read as they are applied."""

from __future__ import annotations

from pathlib import Path

from cooperbench.generation.grading import tamper
from cooperbench.generation.grading.harness import harness_changes, reads_content
from cooperbench.generation.patches import diffs
from cooperbench.generation.patches.gitutil import post_images, read_blob, tree_paths
from cooperbench.generation.tasks.task import Task


def harness_of(task: Task, git_dir: Path, patch: str, name: str) -> list[str]:
    """The test-harness files a patch to the base changes (harness.py), each with what it is;
    every file whose content decides it is read as it is with the patch applied, binary patches
    included."""
    files = diffs.parse_diff(patch, name)
    after = post_images(git_dir, task.base_commit, patch, [f.path for f in files if f.status != "deleted" and reads_content(f.path)])
    return harness_changes(patch, name, base_paths=tree_paths(git_dir, task.base_commit), after=after.get,
                           before=lambda path: read_blob(git_dir, task.base_commit, path))


def source_guard(task: Task, git_dir: Path, source_patch: str, origin: str) -> dict:
    """What the guard watches in runs with this source patch (tamper.guard_config)."""
    return tamper.guard_config(source_patch, origin, lambda path: read_blob(git_dir, task.base_commit, path))


def source_screen(task: Task, git_dir: Path, patch: str, origin: str) -> list[tuple[str, str]]:
    """(key, sentence) for what a source patch may not hold (tamper.screen); binary patches read
    as they are applied."""
    binary = [f.path for f in diffs.parse_diff(patch, origin) if f.binary and f.status != "deleted"]
    after = post_images(git_dir, task.base_commit, patch, binary)
    return tamper.screen(patch, origin, lambda path: read_blob(git_dir, task.base_commit, path), after.get)
