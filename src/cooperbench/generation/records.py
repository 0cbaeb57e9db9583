"""Per-attempt records inside a stage's output folder: keys, digests, and pruning.

An item's key hashes everything its result depends on (inputs, settings, code version); an item
whose published record carries the same key is done and is not computed again (not re-billed).
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Iterable


def key_of(record: dict) -> str:
    return hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()[:20]


def digest_folder(folder: Path) -> str:
    """A hash of every file under `folder` (names and bytes)."""
    digest = hashlib.sha256()
    for file in sorted(p for p in Path(folder).rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        digest.update(str(file.relative_to(folder)).encode() + b"\0" + hashlib.sha256(file.read_bytes()).digest())
    return digest.hexdigest()[:20]


def prune(root: Path, keep: Iterable[Path]) -> None:
    """Remove from a stage's output folder every attempt folder not in `keep` (a task or an attempt
    no longer in params.yaml) and every leftover of a killed run."""
    keep = {Path(p).resolve() for p in keep}
    if not root.is_dir():
        return
    for folder in sorted(root.rglob("*"), key=lambda p: -len(p.parts)):
        if not folder.is_dir():
            continue
        resolved = folder.resolve()
        inside_kept = any(resolved == k or resolved.is_relative_to(k) for k in keep)
        above_kept = any(k.is_relative_to(resolved) for k in keep)
        if not inside_kept and not above_kept or ".tmp-" in folder.name:
            shutil.rmtree(folder, ignore_errors=True)
