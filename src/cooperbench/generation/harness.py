"""Files that decide how tests run or are reported. A candidate may not change them: its code runs
inside the test process, and a conftest plugin, a runner option or a startup hook could rewrite
the outcomes the grading reads."""

from __future__ import annotations

import fnmatch
from pathlib import PurePosixPath

from cooperbench.generation import diffs

HARNESS_NAMES = (
    "conftest.py", "pytest.ini", ".pytest.ini", "tox.ini", "sitecustomize.py", "usercustomize.py", "*.pth",
    "runner.sh", "run_tests.sh", "package.json", "jest.config.*", "jest.setup.*", "vitest.config.*",
    "vitest.workspace.*", "vite.config.*", "babel.config.*", ".babelrc", "karma.conf.*", ".mocharc*",
)
HARNESS_PATHS = (".cargo/config", ".cargo/config.toml", "*/.cargo/config", "*/.cargo/config.toml")
SECTIONED_CONFIGS = ("pyproject.toml", "setup.cfg")  # harness only where their pytest section changes


def harness_changes(patch: str, origin: str) -> list[str]:
    """The harness files a patch changes, each with why it counts."""
    found = []
    for file_diff in diffs.parse_diff(patch, origin):
        for path in filter(None, (file_diff.path, file_diff.old_path)):
            name = PurePosixPath(path).name
            if any(fnmatch.fnmatchcase(name, p) for p in HARNESS_NAMES) or any(
                fnmatch.fnmatchcase(path, p) for p in HARNESS_PATHS
            ):
                found.append(path)
            elif name in SECTIONED_CONFIGS and _touches_pytest(file_diff):
                found.append(f"{path} (its pytest settings)")
    return list(dict.fromkeys(found))


def _touches_pytest(file_diff: diffs.FileDiff) -> bool:
    for hunk in file_diff.parsed:
        changed = [line.value for line in hunk if not line.is_context]
        if "pytest" in (hunk.section_header or "").lower() or any("pytest" in text.lower() for text in changed):
            return True
    return False
