"""Write outputs all at once: a temp file in the same folder, then a rename."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from cooperbench.generation.util.redact import redact


def write_text(path: Path, text: str) -> None:
    """Replace `path` with `text` (credentials redacted), never leaving a half-written file."""
    text = redact(text)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", errors="surrogateescape", newline="") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def dump_json(data: Any) -> str:
    """Stable JSON text: sorted keys, so equal data gives equal bytes (DVC hashes them)."""
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write_json(path: Path, data: Any) -> None:
    write_text(path, dump_json(data))


def staging_dir(target: Path) -> Path:
    """A fresh temp folder beside `target` to build it in; leftovers of a killed earlier run
    (`.<name>.tmp-*`) are removed first."""
    parent = ensure_dir(Path(target).parent)
    for stale in parent.glob(f".{Path(target).name}.tmp-*"):
        shutil.rmtree(stale, ignore_errors=True)
    return Path(tempfile.mkdtemp(prefix=f".{Path(target).name}.tmp-", dir=parent))


def ensure_dir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


@contextmanager
def built(*targets: Path) -> Iterator[list[Path]]:
    """A staging folder per target to build it in (every stage's output is made this way): each
    replaces its target, in order, when the block ends normally; all are thrown away when it
    raises, so a target is either as it was or wholly new."""
    stagings = []
    try:
        stagings.extend(staging_dir(target) for target in targets)
        yield stagings
        for staging, target in zip(stagings, targets):
            replace_dir(staging, target)
    finally:
        for staging in stagings:
            shutil.rmtree(staging, ignore_errors=True)


def replace_dir(staging: Path, target: Path) -> None:
    """Move a finished folder into place; a previous one (a rerun) is replaced."""
    if target.exists():
        shutil.rmtree(target)
    staging.rename(target)
