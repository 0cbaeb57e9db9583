"""Thin, deterministic wrappers over the git CLI.

Every call ignores the user's global and system git config, so results (commit ids above all)
do not depend on who runs them.
"""

from __future__ import annotations

import os
import subprocess
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from cooperbench.generation.errors import GenerationError
from cooperbench.generation.util.owners import scratch_dir

# A fixed identity and date make commits built from the same tree byte-identical.
FIXED_IDENTITY = {
    "GIT_AUTHOR_NAME": "CooperBench",
    "GIT_AUTHOR_EMAIL": "cooperbench@localhost",
    "GIT_AUTHOR_DATE": "2024-01-01T00:00:00+0000",
    "GIT_COMMITTER_NAME": "CooperBench",
    "GIT_COMMITTER_EMAIL": "cooperbench@localhost",
    "GIT_COMMITTER_DATE": "2024-01-01T00:00:00+0000",
}


def _env(extra: dict[str, str] | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(GIT_CONFIG_NOSYSTEM="1", GIT_CONFIG_GLOBAL=os.devnull, LC_ALL="C")
    env.update(FIXED_IDENTITY)
    if extra:
        env.update(extra)
    return env


def run_git(
    args: list[str],
    git_dir: Path | None,
    *,
    input: str | None = None,
    env: dict[str, str] | None = None,
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    """Run `git --git-dir=<git_dir> <args>`; on failure raise GenerationError with git's message."""
    where = [f"--git-dir={git_dir}"] if git_dir is not None else []
    proc = subprocess.run(
        ["git", *where, "-c", "core.autocrlf=false", *args],
        input=input,
        capture_output=True,
        text=True,
        encoding="utf-8",
        errors="surrogateescape",  # patches may hold any bytes: they pass through unchanged
        env=_env(env),
    )
    if check and proc.returncode != 0:
        message = (proc.stderr.strip() or proc.stdout.strip()).splitlines()
        raise GenerationError(f"git {args[0]} failed: {message[0] if message else 'no output'}")
    return proc


def git_dir_of(repo: Path) -> Path:
    """The git directory of a work tree or bare repository at `repo`."""
    dot_git = repo / ".git"
    return dot_git if dot_git.exists() else repo


def has_commit(git_dir: Path, commit: str) -> bool:
    return run_git(["cat-file", "-e", f"{commit}^{{commit}}"], git_dir, check=False).returncode == 0


@contextmanager
def scratch_objects(git_dir: Path) -> Iterator[dict[str, str]]:
    """An environment in which git writes new objects to a temp folder and reads the repository's
    as alternates: checking patches and merging features never writes into the user's repository
    (which may be read-only, or a partial clone whose missing blobs must not be fetched)."""
    objects = run_git(["rev-parse", "--path-format=absolute", "--git-path", "objects"], git_dir).stdout.strip()
    with scratch_dir("objects") as scratch:
        yield {"GIT_OBJECT_DIRECTORY": scratch, "GIT_ALTERNATE_OBJECT_DIRECTORIES": objects}


@contextmanager
def temp_index(git_dir: Path, tree: str, env: dict[str, str]) -> Iterator[dict[str, str]]:
    """`env` plus an index file holding `tree`, for patching and writing trees with no checkout."""
    with scratch_dir("index") as scratch:
        indexed = {**env, "GIT_INDEX_FILE": str(Path(scratch) / "index")}
        run_git(["read-tree", tree], git_dir, env=indexed)
        yield indexed


APPLY_FALLBACKS = ([], ["--ignore-whitespace"], ["--3way"])


def apply_to_index(git_dir: Path, patch: str, env: dict[str, str]) -> str | None:
    """Apply `patch` to the index in `env` as the dataset's runners do (plain, then
    --ignore-whitespace, then --3way); return None on success, else git's first error line."""
    error = "empty patch"
    for flags in APPLY_FALLBACKS:
        proc = run_git(["apply", "--cached", *flags, "-"], git_dir, input=patch, env=env, check=False)
        if proc.returncode == 0:
            return None
        lines = proc.stderr.strip().splitlines()
        error = lines[0] if lines else "git apply failed"
    return error


def write_tree(git_dir: Path, env: dict[str, str]) -> str:
    """The index in `env` as a tree; blobs absent from a partial clone are not fetched."""
    return run_git(["write-tree", "--missing-ok"], git_dir, env=env).stdout.strip()


def patch_applies(git_dir: Path, base: str, patch: str) -> str | None:
    """None when `patch` applies to `base` (no checkout needed), else the reason it does not."""
    with scratch_objects(git_dir) as env, temp_index(git_dir, base, env) as indexed:
        return apply_to_index(git_dir, patch, indexed)


def read_blob(git_dir: Path, commit: str, path: str) -> str | None:
    """A file's text at a commit, or None (absent, or a blob a partial clone lacks: not fetched)."""
    with scratch_objects(git_dir) as env:
        proc = run_git(["cat-file", "blob", f"{commit}:{path}"], git_dir, env={**env, "GIT_NO_LAZY_FETCH": "1"}, check=False)
    return proc.stdout if proc.returncode == 0 else None


def post_images(git_dir: Path, base: str, patch: str, paths: list[str]) -> dict[str, str | None]:
    """The text of `paths` with `patch` applied to `base` (None: absent, or the patch does not
    apply), read from a temp index: no checkout, nothing written into the repository."""
    if not paths:
        return {}
    with scratch_objects(git_dir) as env, temp_index(git_dir, base, env) as indexed:
        if apply_to_index(git_dir, patch, indexed) is not None:
            return dict.fromkeys(paths)
        found = {}
        for path in paths:
            proc = run_git(["cat-file", "blob", f":{path}"], git_dir, env={**indexed, "GIT_NO_LAZY_FETCH": "1"}, check=False)
            found[path] = proc.stdout if proc.returncode == 0 else None
        return found


def tree_paths(git_dir: Path, commit: str) -> frozenset[str]:
    """Every file path of a commit's tree (no blob is read)."""
    proc = run_git(["ls-tree", "-r", "-z", "--name-only", commit], git_dir)
    return frozenset(p for p in proc.stdout.split("\0") if p)
