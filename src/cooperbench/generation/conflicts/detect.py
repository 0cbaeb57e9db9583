"""Which features conflict: every pair of source patches merged by git, with no checkout.

Each feature's source patch (test files left out) becomes a commit on the base in a scratch
repository, applied in process (gitutil.Scratch); every pair of commits is merged by git's own
default merge (merge-ort) in one `git merge-tree --stdin` process. A conflict's regions are
counted from the conflict markers git wrote into the merged tree.
"""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass
from pathlib import Path

from cooperbench.generation.errors import GenerationError
from cooperbench.generation.patches import diffs
from cooperbench.generation.patches.gitutil import Merge, Refused, Scratch, scratch_repo
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


def commit_patches(scratch: Scratch, base: str, patches: list[tuple[str, str]], label: str) -> tuple[str, str]:
    """(commit, tree) on `base` holding `patches` ((where it comes from, text), applied in order)."""
    tree = scratch.apply(base, [text for _, text in patches])
    if isinstance(tree, Refused):
        raise GenerationError(f"{patches[tree.position][0]}: does not apply to the base commit ({tree.reason})")
    return scratch.commit(base, tree, label), str(tree)


def count_regions(scratch: Scratch, merge: Merge) -> int:
    return sum(
        sum(1 for line in (scratch.read(merge.tree, path) or b"").splitlines() if line.startswith(b"<<<<<<< "))
        for path in merge.files
    )


def source_commits(task: Task, scratch: Scratch, extra: dict[str, str]) -> dict[str, tuple[str, str]]:
    """Each feature's source patch, and each `extra` one (label -> patch), as (commit, tree)."""
    patches = {
        str(f.id): (source_only(f.feature_patch, str(f.path / "feature.patch"), task.test_patterns), f"feature{f.id}")
        for f in task.features
    }
    for label, patch in extra.items():
        origin = "candidate feature.patch" if label == CANDIDATE else f"{label} feature.patch"
        patches[label] = (source_only(patch, origin, task.test_patterns), origin)
    return {key: commit_patches(scratch, task.base_commit, [(origin, text)], origin)
            for key, (text, origin) in patches.items()}


def merge_pairs(scratch: Scratch, commits: dict[str, tuple[str, str]], pairs: list[tuple[str, str]]) -> list[PairResult]:
    merges = scratch.merge([(commits[a][0], commits[b][0]) for a, b in pairs])
    return [PairResult(a, b, m.conflict, m.files, count_regions(scratch, m) if m.conflict else 0)
            for (a, b), m in zip(pairs, merges)]


def conflict_matrix(task: Task, git_dir: Path, candidate: str | None = None, *, extra: dict[str, str] | None = None
                    ) -> list[PairResult]:
    """Every pair among the task's features and the extra patches: `candidate` gets the id it
    would have as the task's next feature (candidate_id), `extra` maps more labels to patches."""
    patches = dict(extra or {})
    if candidate is not None:
        patches[str(candidate_id(task))] = candidate
    with scratch_repo(git_dir) as scratch:
        commits = source_commits(task, scratch, patches)
        return merge_pairs(scratch, commits, list(itertools.combinations(commits, 2)))


def candidate_id(task: Task) -> int:
    """A candidate's feature id: the one it gets when promoted."""
    return max(f.id for f in task.features) + 1


def candidate_conflicts(task: Task, git_dir: Path, candidate: str) -> dict:
    """The candidate against each existing feature: the ids it conflicts with, per-feature
    detail, and `copy_of` when its source change gives the same tree as an existing feature."""
    with scratch_repo(git_dir) as scratch:
        commits = source_commits(task, scratch, {CANDIDATE: candidate})
        pairs = merge_pairs(scratch, commits, [(str(f.id), CANDIDATE) for f in task.features])
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
