"""Per-attempt records inside a stage's output folder: keys, digests, indexes and pruning.

An item's key hashes everything its result depends on (inputs, settings, code version); an item
whose published record carries the same key is done and is not computed again (not re-billed).

An index lists the digest of every file a stage wrote into one output folder. The next stage
depends on that one small file instead of the folder (DVC hashes a folder dependency file by file,
every `dvc status`, which at a thousand attempts costs seconds) and checks the folder against it
before reading anything, so the lineage stays exact.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Iterable

from cooperbench.generation.errors import GenerationError
from cooperbench.generation.util import atomic


def key_of(record: dict) -> str:
    return hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()[:20]


def digest_folder(folder: Path) -> str:
    """A hash of every file under `folder` (names and bytes)."""
    digest = hashlib.sha256()
    for name, sha in file_digests(folder).items():
        digest.update(name.encode() + b"\0" + bytes.fromhex(sha))
    return digest.hexdigest()[:20]


def digest_files(files: Iterable[Path]) -> str:
    """A hash of the named files (names and bytes; a missing file counts as missing)."""
    digest = hashlib.sha256()
    for file in files:
        data = Path(file).read_bytes() if Path(file).is_file() else None
        digest.update(Path(file).name.encode() + (b"\1" + hashlib.sha256(data).digest() if data is not None else b"\0"))
    return digest.hexdigest()[:20]


def file_digests(folder: Path) -> dict[str, str]:
    """Relative path -> sha256 of every file under `folder`, in path order."""
    folder = Path(folder)
    files = sorted(p for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


def published_key(record: Path) -> str | None:
    """The key a published record carries; None when there is none or it cannot be read (then the
    item is simply done again)."""
    try:
        return json.loads(Path(record).read_text(encoding="utf-8")).get("key")
    except (OSError, ValueError, AttributeError):
        return None


def write_index(folder: Path, index: Path) -> None:
    atomic.write_json(index, {"folder": str(folder), "files": file_digests(folder)})


def check_index(folder: Path, index: Path) -> None:
    """Fail in one line when `folder` is not what its stage wrote (edited, or left by another run)."""
    try:
        recorded = json.loads(index.read_text(encoding="utf-8"))["files"]
    except (OSError, ValueError, KeyError, TypeError):
        raise GenerationError(f"{index}: missing or unreadable; run `dvc repro` to make {folder}") from None
    now = file_digests(folder)
    if recorded != now:
        changed = sorted(name for name in recorded.keys() | now.keys() if recorded.get(name) != now.get(name))
        raise GenerationError(f"{folder / changed[0]}: not what {index} records ({len(changed)} files differ); "
                              f"run `dvc repro` to bring it up to date")


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
