"""Promotion: an accepted generated feature becomes `feature<N+1>/` of its task.

It is validated again against the task's current features first (the task may have gained
features since the attempt ran), an existing feature folder is never overwritten, and the
attempt's record (model, settings, attempt, prompt hash, versions) is kept beside it as
`provenance.json`.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from cooperbench.generation.errors import GenerationError
from cooperbench.generation.grading.validate import (
    ValidationSettings,
    validate_candidate,
)
from cooperbench.generation.pipeline.layout import AttemptPaths
from cooperbench.generation.tasks.task import Task
from cooperbench.generation.util import atomic

FILES = ("feature.md", "feature.patch", "tests.patch")


def read_feature_file(file: Path) -> str:
    if not file.is_file():
        raise GenerationError(f"{file}: missing (promote an attempt folder with a split feature)")
    try:
        text = file.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise GenerationError(f"{file}: not UTF-8 text") from None
    if not text.strip():
        raise GenerationError(f"{file}: empty")
    return text


def provenance(attempt: Path) -> dict:
    """What the attempt recorded of its making, wherever its layout keeps it."""
    usage_file = AttemptPaths.folder(attempt).usage
    if not usage_file.is_file():
        return {"source": attempt.name, "note": "the attempt folder holds no usage.json"}
    usage = json.loads(usage_file.read_text())
    return {**usage["provenance"], "model": usage["model"], "replay": usage["replay"], "settings": usage["settings"],
            "prompt_sha256": usage["prompt_sha256"]}


def promote(task: Task, attempt: Path, git_dir: Path, settings: ValidationSettings) -> tuple[Path, dict]:
    """Copy `attempt`'s feature into the task as the next feature folder; returns (folder, verdict)."""
    attempt = Path(attempt)
    texts = {name: read_feature_file(attempt / name) for name in FILES}
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
        atomic.write_json(staging / "provenance.json", provenance(attempt))
        if target.exists():
            raise GenerationError(f"{target}: appeared while promoting; nothing was overwritten")
        staging.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target, verdict
