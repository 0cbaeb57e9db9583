"""Merged changes of a repository's history that could become features: mining and its funnel.

One `git log` over the first-parent history lists every change as it landed on the main line
(a merge commit against its first parent, any other commit against its parent) with its files'
line counts. A candidate is a merged change (a merge commit, or a squash commit whose subject
ends in `(#N)`) that changes both source and tests within the limits, and is no bot's, no
release's, no revert and not only docs, CI or packaging. Every dropped change is counted under
the first filter that drops it, so the funnel says how many each filter cost and why.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field
from pathlib import Path

from cooperbench.generation.patches import diffs
from cooperbench.generation.patches.gitutil import run_git
from cooperbench.generation.schemas import OnboardLimits

PR_MERGE_RE = re.compile(r"^Merge pull request #(\d+) from (\S+)")
BRANCH_MERGE_RE = re.compile(r"^Merge (?:remote-tracking )?branch '([^']+)'")
SQUASH_RE = re.compile(r"\(#(\d+)\)\s*$")
BOT_RE = re.compile(r"\[bot\]|dependabot|renovate|pre-commit-ci|github-actions|snyk-bot|greenkeeper|imgbot|allcontributors",
                    re.IGNORECASE)
RELEASE_RE = re.compile(r"\b(?:release|releasing|bump(?:ed)? (?:the )?version|version bump|prepare for v?\d)"
                        r"|^v?\d+(?:\.\d+)+\s*$|\bversion[- _]?v?\d+(?:\.\d+)+", re.IGNORECASE)
REVERT_RE = re.compile(r"^Revert\b|^Reapply\b", re.IGNORECASE)
TRAILER_RE = re.compile(r"^(?:Co-authored-by|Signed-off-by|Reviewed-by|Acked-by|Change-Id):", re.IGNORECASE)
DOCS = ("docs/*", "doc/*", "*.md", "*.rst", "*.txt", "*.adoc", "CHANGELOG*", "CHANGES*", "HISTORY*", "NEWS*", "AUTHORS*",
        "README*", "LICENSE*", "mkdocs.yml", ".readthedocs.y*ml", "*.png", "*.svg", "*.jpg", "*.gif")
CI = (".github/*", ".gitlab-ci.yml", ".gitlab/*", ".circleci/*", ".travis.yml", "azure-pipelines.yml", "appveyor.yml",
      ".pre-commit-config.yaml", ".pre-commit-hooks.yaml", "renovate.json", ".renovaterc*", ".coveragerc", "codecov.yml",
      ".codecov.yml", ".gitignore", ".gitattributes", ".editorconfig", ".mailmap", "*.cfg.in", ".flake8",
      ".git-blame-ignore-revs", "Makefile", ".ruff.toml", "ruff.toml", "mypy.ini", ".mypy.ini")
# an environment is derived at the base from these: a change to one needs another environment
PACKAGING = ("pyproject.toml", "setup.py", "setup.cfg", "tox.ini", "noxfile.py", "pytest.ini", "requirements*",
             "*requirements*.txt", "Pipfile*", "poetry.lock", "uv.lock", "pdm.lock", "MANIFEST.in",
             "package.json", "package-lock.json", "yarn.lock", "pnpm-lock.yaml", "Cargo.toml", "Cargo.lock", "go.mod",
             "go.sum", "Dockerfile", "conftest.py", "*/conftest.py")
DROPS = ("direct_commit", "bot", "revert", "release", "binary", "no_code", "packaging", "no_tests", "no_source",
         "too_large")  # the funnel's filters, in the order they are applied
WHY = {
    "direct_commit": "not a merged change (neither a merge commit nor a squash commit ending in (#N))",
    "bot": "made by a bot",
    "revert": "a revert",
    "release": "a release or version bump",
    "binary": "changes a binary file",
    "no_code": "only docs, CI or project housekeeping",
    "packaging": "changes packaging, dependency or test-runner settings (the environment is derived at the base)",
    "no_tests": "changes no test file",
    "no_source": "changes no source file outside the tests",
    "too_large": "over the size limits (onboard.limits)",
}


@dataclass(frozen=True)
class FileChange:
    path: str
    added: int | None  # None: binary
    deleted: int | None


@dataclass
class Change:
    """One change as it landed on the main line."""

    commit: str
    parent: str  # the first parent: the main line just before it
    author: str
    email: str
    date: str  # committer date, ISO 8601
    message: str
    files: list[FileChange] = field(default_factory=list)
    side: str | None = None  # a merge commit's second parent: the merged branch

    @property
    def merge(self) -> bool:
        return self.side is not None

    @property
    def subject(self) -> str:
        return self.message.split("\n", 1)[0].strip()

    @property
    def pr(self) -> int | None:
        found = PR_MERGE_RE.match(self.subject) or SQUASH_RE.search(self.subject)
        return int(found.group(1)) if found else None

    @property
    def title(self) -> str:
        """The pull request's title: a merge commit's body starts with it (else its branch name
        says it); a squash commit's subject is it, `(#N)` aside."""
        if self.merge:
            body = self.body_lines()
            if body:
                return body[0]
            return re.sub(r"[-_]+", " ", self.branch.rsplit("/", 1)[-1]) or self.subject
        return SQUASH_RE.sub("", self.subject).strip()

    @property
    def description(self) -> str:
        """The pull request's text as the commit kept it: the body, trailers and the squashed
        commits' bullet list left out."""
        lines = self.body_lines()
        if self.merge and lines:
            lines = lines[1:]  # the title
        kept = [line for line in lines if not TRAILER_RE.match(line.strip()) and not re.fullmatch(r"-{5,}", line.strip())]
        text = "\n".join(kept).strip()
        return re.sub(r"\n{3,}", "\n\n", text)

    def body_lines(self) -> list[str]:
        body = self.message.split("\n", 1)[1] if "\n" in self.message else ""
        return [line.rstrip() for line in body.strip().splitlines()]

    @property
    def branch(self) -> str:
        found = PR_MERGE_RE.match(self.subject)
        if found:
            return found.group(2)
        found = BRANCH_MERGE_RE.match(self.subject)
        return found.group(1) if found else ""


def _matches(path: str, patterns: tuple[str, ...]) -> bool:
    """As .gitignore reads its lines: a pattern with a `/` matches the whole path, one without
    matches the file's name in any folder."""
    name = path.rsplit("/", 1)[-1]
    return any(fnmatch.fnmatchcase(path if "/" in pattern else name, pattern) for pattern in patterns)


def kind_of(path: str, test_patterns: tuple[str, ...]) -> str:
    """test | packaging | docs | ci | source: what a changed file is to a feature."""
    if _matches(path, PACKAGING):
        return "packaging"
    if diffs.is_test_path(path, test_patterns):
        return "test"
    if _matches(path, DOCS):
        return "docs"
    if _matches(path, CI):
        return "ci"
    return "source"


def history(git_dir: Path, ref: str = "HEAD") -> list[Change]:
    """Every change of the first-parent history of `ref`, oldest first: one `git log`."""
    fmt = "%x1e%H%x1f%P%x1f%an%x1f%ae%x1f%cI%x1f%B%x1f"
    proc = run_git(["log", "--first-parent", "--diff-merges=first-parent", "--numstat", "--no-renames",
                    f"--format={fmt}", ref, "--"], git_dir)
    changes = []
    for record in proc.stdout.split("\x1e")[1:]:
        commit, parents, author, email, date, message, stats = record.split("\x1f", 6)
        parent_list = parents.split()
        if not parent_list:
            continue  # the root commit: nothing to compare it with
        files = []
        for line in stats.strip("\n").splitlines():
            parts = line.split("\t", 2)
            if len(parts) == 3:
                added, deleted, path = parts
                files.append(FileChange(path, None if added == "-" else int(added), None if deleted == "-" else int(deleted)))
        changes.append(Change(commit, parent_list[0], author, email, date, message.strip(), files,
                              parent_list[1] if len(parent_list) > 1 else None))
    return changes[::-1]


def drop_reason(change: Change, limits: OnboardLimits, test_patterns: tuple[str, ...]) -> str | None:
    """The first filter (DROPS) that drops `change`, or None: a candidate."""
    if not change.merge and not SQUASH_RE.search(change.subject):
        return "direct_commit"
    if BOT_RE.search(change.author) or BOT_RE.search(change.email) or BOT_RE.search(change.branch):
        return "bot"
    if REVERT_RE.search(change.title) or REVERT_RE.search(change.subject):
        return "revert"
    if RELEASE_RE.search(change.title) or RELEASE_RE.search(change.branch.rsplit("/", 1)[-1]):
        return "release"
    if any(f.added is None for f in change.files):
        return "binary"
    kinds = {f.path: kind_of(f.path, test_patterns) for f in change.files}
    if not any(k in ("source", "test", "packaging") for k in kinds.values()):
        return "no_code"
    if "packaging" in kinds.values():
        return "packaging"
    tests = [f for f in change.files if kinds[f.path] == "test"]
    sources = [f for f in change.files if kinds[f.path] == "source"]
    if not tests:
        return "no_tests"
    if not sources:
        return "no_source"
    if (len(sources) > limits.max_source_files or len(tests) > limits.max_test_files
            or sum(f.added + f.deleted for f in sources) > limits.max_source_lines
            or sum(f.added + f.deleted for f in tests) > limits.max_test_lines):
        return "too_large"
    return None


@dataclass
class Funnel:
    """How many changes each filter dropped, with examples, and what is left."""

    changes: int = 0
    dropped: dict[str, list[str]] = field(default_factory=lambda: {name: [] for name in DROPS})
    candidates: list[Change] = field(default_factory=list)

    def to_dict(self, examples: int = 3) -> dict:
        return {"changes": self.changes, "candidates": len(self.candidates),
                "dropped": {name: {"count": len(found), "why": WHY[name], "examples": found[:examples]}
                            for name, found in self.dropped.items()}}


def mine(git_dir: Path, limits: OnboardLimits, test_patterns: tuple[str, ...] = diffs.DEFAULT_TEST_PATTERNS,
         ref: str = "HEAD") -> Funnel:
    funnel = Funnel()
    for change in history(git_dir, ref):
        funnel.changes += 1
        reason = drop_reason(change, limits, test_patterns)
        if reason:
            funnel.dropped[reason].append(f"{change.commit[:10]} {change.subject[:70]}")
        else:
            funnel.candidates.append(change)
    return funnel
