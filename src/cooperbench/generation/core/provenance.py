"""What produced an output: package and tool versions (in its records), and the project's git
commit (in the logs only: a commit cannot name itself, so no tracked output may hold it)."""

from __future__ import annotations

import platform
import subprocess
from functools import cache
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

PACKAGES = ("cooperbench-generation", "mini-swe-agent", "litellm", "dvc")


@cache
def versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for package in PACKAGES:
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            found[package] = "not installed"
    return found


def project_commit() -> str:
    """The commit of the checkout this code runs from (`+dirty` with uncommitted changes)."""
    root = Path(__file__).resolve().parents[4]
    head = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True)
    if head.returncode != 0:
        return "unknown (not a git checkout)"
    dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True).stdout.strip()
    return head.stdout.strip() + ("+dirty" if dirty else "")
