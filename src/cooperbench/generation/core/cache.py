"""The cache: what is built once and kept for any project of this machine's user (repositories,
environments, test runs, code versions), each entry under a key of what it is made of."""

from __future__ import annotations

import os
from pathlib import Path

CACHE_VARIABLE = "COOPERBENCH_CACHE"  # the cache's folder, else ~/.cache/cooperbench


def cache_root() -> Path:
    return Path(os.environ.get(CACHE_VARIABLE) or Path.home() / ".cache" / "cooperbench")
