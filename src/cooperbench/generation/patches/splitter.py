"""Split an agent's whole diff into `feature.patch`, `tests.patch` and `feature.md`.

Test files go to `tests.patch` (the task's patterns, else `diffs.DEFAULT_TEST_PATTERNS`), the
rest of the source to `feature.patch`. The description file becomes `feature.md`. Scratch the
agent left behind (stray root scripts, tmp_/debug_ files, caches, build outputs, merge leftovers)
and binary changes are dropped, each with its reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from cooperbench.generation.core.contract import DESCRIPTION_FILE
from cooperbench.generation.errors import GenerationError
from cooperbench.generation.patches import diffs
from cooperbench.generation.patches.gitutil import patch_applies
from cooperbench.generation.schemas import SplitRecord, dump, parse
from cooperbench.generation.util import atomic

SCRATCH_PREFIXES = ("tmp_", "temp_", "debug_", "scratch")
CACHE_PARTS = frozenset({
    "__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache", ".tox", ".nox", ".venv", "venv",
    "node_modules", ".eggs", ".cache", ".coverage", ".hypothesis", ".ipynb_checkpoints",
})
CACHE_SUFFIXES = (".pyc", ".pyo", ".egg-info")
BUILD_ROOTS = frozenset({"build", "dist", "target", "out"})
LEFTOVER_SUFFIXES = (".orig", ".rej", ".bak", ".swp")
# New files of these kinds at the repository root are almost always the agent's own experiments.
STRAY_ROOT_SUFFIXES = (".py", ".sh", ".txt", ".log", ".out", ".json", ".patch", ".diff", ".md")


@dataclass
class Split:
    feature_patch: str
    tests_patch: str
    feature_md: str | None
    source_files: list[str]
    test_files: list[str]
    dropped: list[dict[str, str]] = field(default_factory=list)
    no_diff: str | None = None  # why the agent's run left no usable diff

    @property
    def problems(self) -> list[tuple[str, str]]:
        """What keeps this split from being a candidate feature: (key, sentence) pairs."""
        if self.no_diff:
            return [("no_diff", self.no_diff)]
        problems = []
        if not self.source_files:
            problems.append(("no_source_change", "the diff has no source change"))
        if not self.test_files:
            problems.append(("no_test_change", "the diff has no test change"))
        if not self.feature_md:
            problems.append(("no_description", "the diff has no feature description"))
        return problems

    def summary(self) -> dict:
        return {
            "source_files": self.source_files,
            "test_files": self.test_files,
            "dropped": self.dropped,
            "has_description": bool(self.feature_md),
            "problems": [sentence for _, sentence in self.problems],
            "problem_keys": [key for key, _ in self.problems],
        }


def split_diff(
    diff: str,
    *,
    origin: str = "diff",
    test_patterns: tuple[str, ...] = diffs.DEFAULT_TEST_PATTERNS,
    description_file: str = DESCRIPTION_FILE,
    description: str | None = None,
) -> Split:
    """Sort every file of `diff`; `description` (the file's text) wins over the diff's copy."""
    source, tests, dropped = [], [], []
    for file_diff in diffs.parse_diff(diff, origin):
        if file_diff.path == description_file:
            if description is None and file_diff.status != "deleted":
                description = _new_text(file_diff)
            continue
        reason = drop_reason(file_diff)
        if reason:
            dropped.append({"path": file_diff.path, "reason": reason})
        elif diffs.is_test_path(file_diff.path, test_patterns):
            tests.append(file_diff)
        else:
            source.append(file_diff)
    feature_md = description.strip() + "\n" if description and description.strip() else None
    return Split(
        feature_patch=diffs.join(source),
        tests_patch=diffs.join(tests),
        feature_md=feature_md,
        source_files=[f.path for f in source],
        test_files=[f.path for f in tests],
        dropped=dropped,
    )


def drop_reason(file_diff: diffs.FileDiff) -> str | None:
    """Why a file of the agent's diff is not part of the feature, or None when it is."""
    path = PurePosixPath(file_diff.path)
    if any(part in CACHE_PARTS or part.endswith(CACHE_SUFFIXES) for part in path.parts):
        return "cache"
    if path.name.endswith(LEFTOVER_SUFFIXES):
        return "editor or merge leftover"
    if path.name.startswith(SCRATCH_PREFIXES):
        return "scratch file"
    if file_diff.status == "added":
        if len(path.parts) > 1 and path.parts[0] in BUILD_ROOTS:
            return "build output"
        if len(path.parts) == 1 and path.suffix in STRAY_ROOT_SUFFIXES:
            return "stray file at the repository root"
    if file_diff.binary:
        return "binary change"
    return None


def _new_text(file_diff: diffs.FileDiff) -> str:
    """The post-image of a file the diff adds (hunk lines on the target side)."""
    return "".join(line.value for hunk in file_diff.parsed for line in hunk if not line.is_removed)


def check_applies(split: Split, git_dir: Path, base_commit: str) -> None:
    """Each non-empty patch applies to the base on its own, as validation will apply it."""
    for name, patch in (("feature.patch", split.feature_patch), ("tests.patch", split.tests_patch)):
        if patch:
            error = patch_applies(git_dir, base_commit, patch)
            if error:
                raise GenerationError(f"{name}: the split patch does not apply to the base commit ({error})")


def write_split(split: Split, out_dir: Path) -> None:
    """Write the three files plus `split.json` (what went where and why)."""
    out_dir = Path(out_dir)
    atomic.write_text(out_dir / "feature.patch", split.feature_patch)
    atomic.write_text(out_dir / "tests.patch", split.tests_patch)
    atomic.write_text(out_dir / "feature.md", split.feature_md or "")
    atomic.write_json(out_dir / "split.json", dump(parse(split.summary(), SplitRecord, out_dir / "split.json")))
