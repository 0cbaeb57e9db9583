"""Git work, deterministic: thin wrappers over the git CLI, and a scratch repository in which
patches are applied and committed in process (libgit2, through pygit2).

Every CLI call ignores the user's global and system git config, so results (commit ids above all)
do not depend on who runs them.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pygit2

from cooperbench.generation.errors import GenerationError
from cooperbench.generation.util.owners import scratch_dir

# A fixed identity and date make commits built from the same tree byte-identical.
FIXED_TIME = 1704067200  # 2024-01-01T00:00:00+0000
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


def ref_target(git_dir: Path, name: str) -> str | None:
    """The commit a ref names (in process), or None."""
    try:
        ref = pygit2.Repository(str(git_dir)).references.get(name)
    except pygit2.GitError:
        return None
    return str(ref.resolve().target) if ref is not None else None


def has_commit(git_dir: Path, commit: str) -> bool:
    """Whether the repository holds `commit`, read in process through a scratch repository: git
    itself, asked of a partial clone that lacks it, first fetches it from the promisor remote (a
    network call for every clone `find_clone` probes; offline, two failed fetches, 0.15 s each)."""
    try:
        with scratch_repo(git_dir) as scratch:
            scratch.repo.revparse_single(f"{commit}^{{commit}}")
        return True
    except (KeyError, ValueError, pygit2.GitError, GenerationError):
        return False


_OBJECT_PATHS: dict[str, tuple[str, str]] = {}


def object_paths(git_dir: Path) -> tuple[str, str]:
    """Where a repository keeps its objects and its shallow file (a worktree's are its main
    repository's), as git says, asked once a repository a process: a git process for each
    scratch repository was half of the git processes a validation started."""
    key = os.path.abspath(git_dir)
    known = _OBJECT_PATHS.get(key)
    if known is None or not os.path.isdir(known[0]):  # a repository made again at the same path
        where = ["rev-parse", "--path-format=absolute", "--git-path", "objects", "--git-path", "shallow"]
        objects, shallow = run_git(where, git_dir).stdout.split("\n")[:2]
        known = _OBJECT_PATHS[key] = (objects, shallow)
    return known


MERGES_PER_PROCESS = 4  # below this many merges a second git process costs more than it saves
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


@dataclass(frozen=True)
class Merge:
    conflict: bool
    files: list[str]  # the files left in conflict
    tree: str  # the merged tree, conflict markers included


@dataclass(frozen=True)
class Refused:
    position: int  # of the patch git refuses
    reason: str  # git's first error line


class Scratch:
    """A scratch bare repository that reads `git_dir`'s objects as alternates and writes its own in
    a temp folder, so checking, applying and merging patches never writes into the user's
    repository (which may be read-only, or a partial clone whose missing blobs must not be
    fetched: libgit2 never fetches). Patches are applied in process (libgit2); one that libgit2
    refuses goes through the CLI's chain (apply_to_index), so what applies is what the dataset's
    runners apply. One thread at a time: the repository's index is shared."""

    def __init__(self, git_dir: Path, folder: str):
        objects, shallow = object_paths(git_dir)
        self.path = Path(folder)
        pygit2.init_repository(folder, bare=True)
        (self.path / "objects" / "info" / "alternates").write_text(objects + "\n")
        if Path(shallow).is_file():  # a shallow clone's first commits have parents it lacks
            shutil.copyfile(shallow, self.path / "shallow")
        self.repo = pygit2.Repository(folder)

    def tree_of(self, commit: str) -> pygit2.Tree:
        return self.repo.revparse_single(commit).peel(pygit2.Tree)

    def apply(self, base: str, patches: list[str]) -> pygit2.Oid | Refused:
        """The tree of `base` with `patches` applied in order, or which one git refuses and why."""
        index = self.repo.index
        self._start_index(base)
        for position, patch in enumerate(patches):
            try:
                diff = pygit2.Diff.parse_diff(patch.encode("utf-8", "surrogateescape"))
                if not len(diff):
                    raise pygit2.GitError("no file in the patch")
                self.repo.apply(diff, pygit2.enums.ApplyLocation.INDEX)  # reads and writes the index file
            except (pygit2.GitError, ValueError):
                error = apply_to_index(self.path, patch, {"GIT_INDEX_FILE": str(self.path / "index")})
                if error:
                    return Refused(position, error)
                index.read(force=True)
        return index.write_tree()

    def _start_index(self, base: str) -> None:
        """The index file (and the repository's index) at `base`: read from the base's tree once,
        copied from then on."""
        saved = self.path / f"index-{base}"
        if not saved.exists():
            self.repo.index.read_tree(self.tree_of(base))
            self.repo.index.write()
            shutil.copyfile(self.path / "index", saved)
        else:
            shutil.copyfile(saved, self.path / "index")
            self.repo.index.read(force=True)

    def commit(self, base: str, tree: pygit2.Oid, message: str) -> str:
        """A commit of `tree` on `base`, byte-identical for the same inputs."""
        who = pygit2.Signature(FIXED_IDENTITY["GIT_AUTHOR_NAME"], FIXED_IDENTITY["GIT_AUTHOR_EMAIL"], FIXED_TIME, 0)
        return str(self.repo.create_commit(None, who, who, message + "\n", tree, [self.repo.revparse_single(base).id]))

    def merge(self, pairs: list[tuple[str, str]], env: dict[str, str] | None = None) -> list[Merge]:
        """Each pair of commits merged by git's default merge (merge-ort): one `git merge-tree
        --stdin` process per core, each merging its share of the pairs."""
        shares = min(len(pairs) // MERGES_PER_PROCESS, os.cpu_count() or 1) or 1
        chunks = [pairs[i::shares] for i in range(shares)]
        with ThreadPoolExecutor(max_workers=shares) as pool:
            merged = list(pool.map(lambda chunk: self._merge(chunk, env), chunks))
        ordered: list[Merge] = [None] * len(pairs)  # type: ignore[list-item]
        for i, results in enumerate(merged):
            ordered[i::shares] = results
        return ordered

    def _merge(self, pairs: list[tuple[str, str]], env: dict[str, str] | None) -> list[Merge]:
        if not pairs:
            return []
        proc = run_git(["merge-tree", "--stdin", "--write-tree", "--name-only", "--no-messages", "-z"], self.path,
                       input="".join(f"{a} {b}\n" for a, b in pairs), env=env, check=False)
        fields = proc.stdout.split("\0")
        merges = []
        while len(merges) < len(pairs) and len(fields) >= 3 and fields[0] in ("0", "1"):
            end = fields.index("", 2)
            merges.append(Merge(fields[0] == "0", sorted(set(fields[2:end])), fields[1]))
            fields = fields[end + 1:]
        if proc.returncode != 0 or len(merges) != len(pairs):
            message = proc.stderr.strip().splitlines()
            raise GenerationError(f"git merge-tree --stdin failed (git 2.39 or newer is needed): "
                                  f"{message[0] if message else 'unreadable output'}")
        return merges

    def diff(self, base: str, tree: str) -> str:
        """The patch from `base` to `tree`, as the dataset's patches are written."""
        return run_git(["diff", "--binary", "--full-index", "--no-renames", base, tree], self.path).stdout

    def union_env(self) -> dict[str, str]:
        """Settings under which merge() is git's union merge (keep both sides of every conflict)."""
        attributes = self.path / "union.attributes"
        attributes.write_text("* merge=union\n")
        return {"GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "core.attributesFile", "GIT_CONFIG_VALUE_0": str(attributes)}

    def read(self, treeish: str, path: str) -> bytes | None:
        """A file of a commit or tree, or None (absent, or a blob a partial clone lacks)."""
        try:
            return self.repo.revparse_single(treeish).peel(pygit2.Tree)[path].data
        except (KeyError, ValueError, pygit2.GitError):
            return None


@contextmanager
def scratch_repo(git_dir: Path) -> Iterator[Scratch]:
    with scratch_dir("git", in_memory=True) as folder:
        scratch = Scratch(git_dir, folder)
        try:
            yield scratch
        finally:
            scratch.repo.free()  # its files are about to go


def patch_applies(git_dir: Path, base: str, patch: str) -> str | None:
    """None when `patch` applies to `base` (no checkout needed), else the reason it does not."""
    with scratch_repo(git_dir) as scratch:
        tree = scratch.apply(base, [patch])
    return tree.reason if isinstance(tree, Refused) else None


def _decoded(data: bytes | None) -> str | None:
    """A file's bytes as the CLI wrappers give text: any byte passes through (surrogateescape)."""
    return None if data is None else data.decode("utf-8", "surrogateescape")


def read_blob(git_dir: Path, commit: str, path: str) -> str | None:
    """A file's text at a commit, or None (absent, or a blob a partial clone lacks: not fetched)."""
    with scratch_repo(git_dir) as scratch:
        return _decoded(scratch.read(commit, path))


def post_images(git_dir: Path, base: str, patch: str, paths: list[str]) -> dict[str, str | None]:
    """The text of `paths` with `patch` applied to `base` (None: absent, or the patch does not
    apply): no checkout, nothing written into the repository."""
    if not paths:
        return {}
    with scratch_repo(git_dir) as scratch:
        tree = scratch.apply(base, [patch])
        if isinstance(tree, Refused):
            return dict.fromkeys(paths)
        return {path: _decoded(scratch.read(str(tree), path)) for path in paths}


_TREE_PATHS: dict[str, frozenset[str]] = {}


def tree_paths(git_dir: Path, commit: str) -> frozenset[str]:
    """Every file path of a commit's tree (no blob is read); kept by commit id, which names the
    same tree in any repository."""
    known = _TREE_PATHS.get(commit)
    if known is None:
        proc = run_git(["ls-tree", "-r", "-z", "--name-only", commit], git_dir)
        known = frozenset(p for p in proc.stdout.split("\0") if p)
        if re.fullmatch(r"[0-9a-f]{40}|[0-9a-f]{64}", commit):  # an id, not a name that can move
            _TREE_PATHS[commit] = known
    return known
