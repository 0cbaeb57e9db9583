"""Tasks of several real features on one base: which bases, which features, and how each applies.

A base is the main line just before a candidate landed (its first parent). The candidates merged
after it (up to `window` of them) are tried on it: each change (source and tests together) is
applied to the base in a scratch repository (gitutil.Scratch: libgit2, then git's own `apply`
chain up to `--3way`, which uses the blobs the change was written against) and written out again
as a diff against the base, so every feature applies to the base as it is. A change whose
rewritten patch equals the merged one applied `clean`; otherwise it was `rebased` (moved hunks,
or a three-way apply). Then every pair of their source changes is merged by git
(conflicts/detect.py), and the features are picked greedily by how many of the others they conflict
with: a group whose features meet at the same definitions is preferred, so the task starts with
real conflicts between real features.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path

from cooperbench.generation.conflicts.detect import commit_patches, merge_pairs
from cooperbench.generation.onboard.mine import Change, kind_of
from cooperbench.generation.patches import diffs
from cooperbench.generation.patches.gitutil import Refused, Scratch, run_git, scratch_repo

VERSIONS = ("authored", "landed")  # change_patches' order


@dataclass
class Member:
    """One change, as a feature of a group: its patches against the group's base."""

    change: Change
    feature_patch: str
    tests_patch: str
    applied: str  # clean | rebased
    left_out: list[str]  # docs and CI files of the change, not part of the feature
    version: str = "landed"  # authored (the merged branch against its fork point) | landed


@dataclass
class Group:
    base: str
    base_date: str
    members: list[Member]
    conflicts: list[tuple[int, int]] = field(default_factory=list)  # indexes into members
    shared: int = 0  # pairs of members that change a definition in common
    tried: int = 0  # candidates tried on the base
    refused: list[str] = field(default_factory=list)  # "<commit> <why>" of those that did not apply

    @property
    def score(self) -> tuple[int, int, int, str]:
        return (len(self.conflicts), self.shared, len(self.members), self.base_date)


def split_change(patch: str, origin: str, test_patterns: tuple[str, ...]) -> tuple[str, str, list[str]]:
    """(source patch, tests patch, files left out) of a change's whole diff."""
    source, tests, left = [], [], []
    for piece in diffs.parse_diff(patch, origin):
        kind = kind_of(piece.path, test_patterns)
        (tests if kind == "test" else source if kind == "source" else left).append(piece)
    return diffs.join(source), diffs.join(tests), [p.path for p in left]


def change_patches(git_dir: Path, change: Change) -> list[str]:
    """The change as its author wrote it (a merged branch against its fork point), then as it
    landed (against the main line): the first applies to bases older than the main line it
    merged into, where a feature merged just before it may have changed the same lines."""
    landed = ["diff", "--binary", "--full-index", "--no-renames", change.parent, change.commit]
    if change.side is None:
        return [run_git(landed, git_dir).stdout]
    authored = ["diff", "--binary", "--full-index", "--no-renames", fork_point(git_dir, change), change.side]
    return [run_git(authored, git_dir).stdout, run_git(landed, git_dir).stdout]


def on_base(scratch: Scratch, base: str, change: Change, wholes: list[str], test_patterns: tuple[str, ...]
            ) -> Member | str:
    """`change` as a feature of `base` (the first of its patches that applies), or why not."""
    why = "no source or no test change once docs and CI are left out"
    for version, whole in zip(VERSIONS[-len(wholes):], wholes):
        source, tests, left = split_change(whole, change.commit, test_patterns)
        if not source or not tests:
            continue
        tree = scratch.apply(base, [source, tests])
        if not isinstance(tree, Refused):
            break
        why = f"does not apply to the base ({tree.reason})"
    else:
        return why
    rebased_source, rebased_tests, _ = split_change(scratch.diff(base, str(tree)), change.commit, test_patterns)
    if not rebased_source or not rebased_tests:
        return "its change is already in the base"
    applied = "clean" if (rebased_source, rebased_tests) == (source, tests) else "rebased"
    return Member(change, rebased_source, rebased_tests, applied, left, version)


def definitions(scratch: Scratch, base: str, member: Member) -> set[tuple[str, str]]:
    """(file, name) of every definition the member's source change touches."""
    found = set()
    for piece in diffs.parse_diff(member.feature_patch, member.change.commit):
        text = (scratch.read(base, piece.path) or b"").decode("utf-8", "replace")
        found |= {(piece.path, name) for name in diffs.touched_definitions(piece, text.splitlines())}
    return found


def pick(members: list[Member], conflicts: set[tuple[int, int]], most: int) -> list[int]:
    """Up to `most` members, each next one the one conflicting with most of those picked (then
    with most of all, then the earliest): conflicting features first. `conflicts` may hold
    pairs that only touch a definition in common, for a second ranking."""
    degree = {i: sum(i in pair for pair in conflicts) for i in range(len(members))}
    chosen: list[int] = []
    while len(chosen) < min(most, len(members)):
        rest = [i for i in range(len(members)) if i not in chosen]
        chosen.append(max(rest, key=lambda i: (sum((min(i, c), max(i, c)) in conflicts for c in chosen), degree[i], -i)))
    return sorted(chosen)


def fork_point(git_dir: Path, change: Change) -> str:
    """The main-line commit a change was written against: a merged branch's fork point, else
    the change's parent."""
    if change.side is None:
        return change.parent
    return run_git(["merge-base", change.parent, change.side], git_dir, check=False).stdout.strip() or change.parent


def main_line(git_dir: Path, head: str) -> dict[str, int]:
    """Each first-parent commit of `head` -> its place, oldest first."""
    return {c: i for i, c in enumerate(run_git(["rev-list", "--first-parent", "--reverse", head], git_dir).stdout.split())}


def bases(git_dir: Path, candidates: list[Change], most: int, test_patterns: tuple[str, ...], order: dict[str, int]
          ) -> list[tuple[str, list[int]]]:
    """Up to `most` bases, each with the candidates that must be tried on it, likeliest conflicts
    first: for every two changes written at the same time (one forked before the other landed)
    that touch a source file in common, the later of their fork points (newest such pairs
    first); then the main line just before each candidate landed (newest first)."""
    forks = [fork_point(git_dir, c) for c in candidates]
    sources = [{f.path for f in c.files if kind_of(f.path, test_patterns) == "source"} for c in candidates]
    found: dict[str, list[int]] = {}
    for j in range(len(candidates) - 1, -1, -1):
        for i in range(j - 1, -1, -1):
            fi, fj = order.get(forks[i]), order.get(forks[j])
            if fi is None or fj is None or fj >= order.get(candidates[i].commit, -1) or not sources[i] & sources[j]:
                continue
            base = forks[i] if fi > fj else forks[j]
            found.setdefault(base, [])
            found[base] += [k for k in (i, j) if k not in found[base]]
    for j in range(len(candidates) - 1, -1, -1):
        found.setdefault(candidates[j].parent, [j])
    return list(found.items())[:most]


def groups(git_dir: Path, candidates: list[Change], *, window: int, max_features: int, min_features: int,
           test_patterns: tuple[str, ...], most: int, head: str) -> list[Group]:
    """A group per base (bases()), best first (Group.score): most conflicting pairs, then most
    pairs that change a definition in common, then most features, then newest. Each base is tried
    with its own candidates and the `window` that landed after it."""
    found = []
    patches: dict[str, list[str]] = {}
    landed = {c.commit: i for i, c in enumerate(candidates)}
    order = main_line(git_dir, head)
    with scratch_repo(git_dir) as scratch:
        for base, seeds in bases(git_dir, candidates, most, test_patterns, order):
            after = [k for k, c in enumerate(candidates) if order.get(c.commit, -1) > order.get(base, len(order))][:window]
            tried = seeds + [k for k in after if k not in seeds]
            date = run_git(["show", "-s", "--format=%cI", base], git_dir).stdout.strip()
            group = Group(base, date, [])
            for k in tried:
                change = candidates[k]
                group.tried += 1
                if change.commit not in patches:
                    patches[change.commit] = change_patches(git_dir, change)
                member = on_base(scratch, base, change, patches[change.commit], test_patterns)
                if isinstance(member, str):
                    group.refused.append(f"{change.commit[:10]} {member}")
                else:
                    group.members.append(member)
            if len(group.members) < min_features:
                continue
            group.members.sort(key=lambda m: landed[m.change.commit])
            commits = {str(i): commit_patches(scratch, group.base, [(m.change.commit, m.feature_patch)], str(i))
                       for i, m in enumerate(group.members)}
            pairs = list(itertools.combinations(range(len(group.members)), 2))
            results = merge_pairs(scratch, commits, [(str(a), str(b)) for a, b in pairs])
            conflicts = {pair for pair, result in zip(pairs, results) if result.has_conflict}
            touched = [definitions(scratch, base, m) for m in group.members]
            shared = {(a, b) for a, b in pairs if touched[a] & touched[b]}
            chosen = pick(group.members, conflicts or shared, max_features)
            index = {old: new for new, old in enumerate(chosen)}
            group.members = [group.members[i] for i in chosen]
            group.conflicts = sorted((index[a], index[b]) for a, b in conflicts if a in index and b in index)
            group.shared = sum(a in index and b in index for a, b in shared)
            found.append(group)
    return sorted(found, key=lambda g: g.score, reverse=True)


def without(group: Group, used: set[str]) -> Group:
    """`group` less the changes in `used` (features of tasks already made)."""
    keep = [i for i, m in enumerate(group.members) if m.change.commit not in used]
    index = {old: new for new, old in enumerate(keep)}
    return Group(group.base, group.base_date, [group.members[i] for i in keep],
                 [(index[a], index[b]) for a, b in group.conflicts if a in index and b in index],
                 group.shared, group.tried, group.refused)
