"""Promotion: an accepted generated feature becomes `feature<N+1>/` of its task.

It is validated again against the task's current features first (the task may have gained
features since the attempt ran), and an existing feature folder is never overwritten.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from cooperbench.generation import atomic
from cooperbench.generation.errors import GenerationError
from cooperbench.generation.task import Task
from cooperbench.generation.validator import ValidationSettings, validate_candidate

FILES = ("feature.md", "feature.patch", "tests.patch")


def promote(task: Task, attempt: Path, git_dir: Path, settings: ValidationSettings) -> tuple[Path, dict]:
    """Copy `attempt`'s feature into the task as the next feature folder; returns (folder, verdict)."""
    attempt = Path(attempt)
    texts = {}
    for name in FILES:
        file = attempt / name
        if not file.is_file() or not file.read_text().strip():
            raise GenerationError(f"{file}: missing or empty (promote an attempt folder with a split feature)")
        texts[name] = file.read_text(encoding="utf-8", errors="surrogateescape")
    verdict = validate_candidate(task, texts["feature.patch"], texts["tests.patch"], git_dir=git_dir, settings=settings)
    if not verdict["valid"]:
        raise GenerationError(f"{attempt}: not valid against the current features of {task.name}: {'; '.join(verdict['reasons'])}")
    target = task.path / f"feature{max(f.id for f in task.features) + 1}"
    if target.exists():
        raise GenerationError(f"{target}: already exists; nothing was overwritten")
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=task.path))
    try:
        for name, text in texts.items():
            atomic.write_text(staging / name, text)
        if target.exists():
            raise GenerationError(f"{target}: appeared while promoting; nothing was overwritten")
        staging.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target, verdict
