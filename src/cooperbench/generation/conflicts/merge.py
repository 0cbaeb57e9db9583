"""Which features conflict: every pair of source patches merged by git, with no checkout.

Each feature's source patch (test files left out) becomes a commit on the base through a
temporary index; each pair of commits is merged with `git merge-tree --write-tree`, git's own
default merge, in parallel. A conflict's regions are counted from the conflict markers git wrote
into the merged tree.
"""

from __future__ import annotations

import itertools
import os
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

from cooperbench.generation.errors import GenerationError
from cooperbench.generation.patches import diffs
from cooperbench.generation.patches.gitutil import apply_to_index, run_git, scratch_objects, temp_index, write_tree
from cooperbench.generation.tasks.task import Task

CANDIDATE = "candidate"


@dataclass(frozen=True)
class PairResult:
    f1: str
    f2: str
    has_conflict: bool
    files: list[str]
    regions: int

    def to_dict(self) -> dict:
        """Feature ids as integers, as verdict.json has them; other labels ("candidate") as they are."""
        data = asdict(self)
        for key in ("f1", "f2"):
            data[key] = int(data[key]) if data[key].isdigit() else data[key]
        return data


def source_only(patch: str, origin: str, test_patterns: tuple[str, ...]) -> str:
    """The patch without its test files."""
    return diffs.join([f for f in diffs.parse_diff(patch, origin) if not diffs.is_test_path(f.path, test_patterns)])


def commit_patch(git_dir: Path, base: str, patch: str, label: str, env: dict[str, str]) -> tuple[str, str]:
    """(commit, tree) on `base` holding `patch`, built in a temporary index (no work tree)."""
    with temp_index(git_dir, base, env) as indexed:
        error = apply_to_index(git_dir, patch, indexed)
        if error:
            raise GenerationError(f"{label}: does not apply to the base commit ({error})")
        tree = write_tree(git_dir, indexed)
    return run_git(["commit-tree", tree, "-p", base, "-m", label], git_dir, env=env).stdout.strip(), tree


def merge_pair(git_dir: Path, commit1: str, commit2: str, env: dict[str, str]) -> tuple[bool, list[str], str]:
    """Merge two commits: (conflict?, conflicting files, merged tree id)."""
    proc = run_git(
        ["merge-tree", "--write-tree", "--name-only", "--no-messages", commit1, commit2], git_dir, env=env, check=False
    )
    if proc.returncode not in (0, 1):
        raise GenerationError(f"git merge-tree failed: {proc.stderr.strip()}")
    lines = proc.stdout.splitlines()
    return proc.returncode == 1, sorted(set(line for line in lines[1:] if line)), lines[0]


class BlobReader:
    """One long-lived `git cat-file --batch` process: reading many files costs one process."""

    def __init__(self, git_dir: Path, env: dict[str, str]):
        self._proc = subprocess.Popen(
            ["git", f"--git-dir={git_dir}", "cat-file", "--batch"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env={**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull, **env},
        )

    def read(self, spec: str) -> bytes:
        assert self._proc.stdin and self._proc.stdout
        self._proc.stdin.write(spec.encode() + b"\n")
        self._proc.stdin.flush()
        header = self._proc.stdout.readline().split()
        if len(header) < 3 or header[1] == b"missing":
            return b""
        data = self._proc.stdout.read(int(header[2]) + 1)
        return data[:-1]

    def close(self) -> None:
        if self._proc.stdin:
            self._proc.stdin.close()
        self._proc.wait()


def count_regions(reader: BlobReader, tree: str, files: list[str]) -> int:
    return sum(
        sum(1 for line in reader.read(f"{tree}:{path}").splitlines() if line.startswith(b"<<<<<<< "))
        for path in files
    )


def _workers(jobs: int | None) -> int:
    return jobs or min(8, (os.cpu_count() or 1) * 2)  # git processes wait on I/O as much as CPU


def source_commits(
    task: Task, git_dir: Path, extra: dict[str, str], pool: ThreadPoolExecutor, env: dict[str, str]
) -> dict[str, tuple[str, str]]:
    """Each feature's source patch, and each `extra` one (label -> patch), as (commit, tree)."""
    patches = {
        str(f.id): (source_only(f.feature_patch, str(f.path / "feature.patch"), task.test_patterns), f"feature{f.id}")
        for f in task.features
    }
    for label, patch in extra.items():
        origin = "candidate feature.patch" if label == CANDIDATE else f"{label} feature.patch"
        patches[label] = (source_only(patch, origin, task.test_patterns), origin)
    built = pool.map(lambda key: commit_patch(git_dir, task.base_commit, *patches[key], env), patches)
    return dict(zip(patches, built))


def merge_pairs(
    git_dir: Path, commits: dict[str, tuple[str, str]], pairs: list[tuple[str, str]], pool: ThreadPoolExecutor,
    env: dict[str, str],
) -> list[PairResult]:
    merges = list(pool.map(lambda pair: merge_pair(git_dir, commits[pair[0]][0], commits[pair[1]][0], env), pairs))
    reader = BlobReader(git_dir, env)
    try:
        return [
            PairResult(a, b, conflict, files, count_regions(reader, tree, files) if conflict else 0)
            for (a, b), (conflict, files, tree) in zip(pairs, merges)
        ]
    finally:
        reader.close()


def conflict_matrix(
    task: Task, git_dir: Path, candidate: str | None = None, *, extra: dict[str, str] | None = None, jobs: int | None = None
) -> list[PairResult]:
    """Every pair among the task's features and the extra patches: `candidate` gets the id it
    would have as the task's next feature (candidate_id), `extra` maps more labels to patches."""
    patches = dict(extra or {})
    if candidate is not None:
        patches[str(candidate_id(task))] = candidate
    with ThreadPoolExecutor(max_workers=_workers(jobs)) as pool, scratch_objects(git_dir) as env:
        commits = source_commits(task, git_dir, patches, pool, env)
        return merge_pairs(git_dir, commits, list(itertools.combinations(commits, 2)), pool, env)


def candidate_id(task: Task) -> int:
    """A candidate's feature id: the one it gets when promoted."""
    return max(f.id for f in task.features) + 1


def candidate_conflicts(task: Task, git_dir: Path, candidate: str, *, jobs: int | None = None) -> dict:
    """The candidate against each existing feature: the ids it conflicts with, per-feature
    detail, and `copy_of` when its source change gives the same tree as an existing feature."""
    with ThreadPoolExecutor(max_workers=_workers(jobs)) as pool, scratch_objects(git_dir) as env:
        commits = source_commits(task, git_dir, {CANDIDATE: candidate}, pool, env)
        pairs = merge_pairs(git_dir, commits, [(str(f.id), CANDIDATE) for f in task.features], pool, env)
    candidate_tree = commits[CANDIDATE][1]
    copy_of = next((int(key) for key, (_, tree) in commits.items() if key != CANDIDATE and tree == candidate_tree), None)
    return {
        "conflicts": [int(p.f1) for p in pairs if p.has_conflict],
        "pairs": [{"feature": int(p.f1), "has_conflict": p.has_conflict, "files": p.files, "regions": p.regions} for p in pairs],
        "copy_of": copy_of,
    }


def render_table(results: list[PairResult]) -> str:
    """A symmetric matrix: `X` conflict, `.` clean."""
    keys = list(dict.fromkeys(k for r in results for k in (r.f1, r.f2)))
    cell = {(r.f1, r.f2): r for r in results}
    cell.update({(r.f2, r.f1): r for r in results})
    width = max(len(k) for k in keys) if keys else 1
    lines = [" " * width + " " + " ".join(k.rjust(width) for k in keys)]
    for row in keys:
        marks = ["-" if row == col else ("X" if cell[(row, col)].has_conflict else ".") for col in keys]
        lines.append(row.rjust(width) + " " + " ".join(m.rjust(width) for m in marks))
    n_conflicts = sum(r.has_conflict for r in results)
    lines.append(f"{len(results)} pairs: {n_conflicts} conflicting, {len(results) - n_conflicts} clean")
    return "\n".join(lines) + "\n"
