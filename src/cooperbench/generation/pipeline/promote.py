"""Promotion: an accepted generated feature becomes `feature<N+1>/` of its task.

It is validated again against the task's current features first (the task may have gained
features since the attempt ran), an existing feature folder is never overwritten, and the
attempt's record (model, settings, cost, attempt, key, prompt hash, versions) is kept beside it as
`provenance.json`.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from cooperbench.generation.core.layout import AttemptPaths
from cooperbench.generation.errors import GenerationError
from cooperbench.generation.schemas import ValidationSettings
from cooperbench.generation.tasks.task import Task
from cooperbench.generation.util import atomic
from cooperbench.generation.validation.candidate import validate_candidate


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


def provenance(paths: AttemptPaths) -> dict:
    """What the attempt recorded of its making (model, settings, cost, its key and inputs, tool
    versions), wherever its layout keeps it."""
    if not paths.usage.is_file():
        raise GenerationError(f"{paths.usage}: missing: the attempt's record of its making (model, settings, cost)")
    usage = json.loads(paths.usage.read_text())
    return {**usage["provenance"], "model": usage["model"], "replay": usage["replay"], "settings": usage["settings"],
            "cost": usage["cost"], "prompt_sha256": usage["prompt_sha256"]}


def promote(task: Task, attempt: Path, git_dir: Path, settings: ValidationSettings,
            extra: dict | None = None) -> tuple[Path, dict]:
    """Copy `attempt`'s feature into the task as the next feature folder; returns (folder, verdict).
    `attempt` is a CLI attempt folder or any stage folder of a pipeline attempt; `extra` goes into
    its provenance (an expansion round says which)."""
    paths = AttemptPaths.of(attempt)
    texts = {name: read_feature_file(file) for name, file in
             (("feature.md", paths.feature_md), ("feature.patch", paths.feature_patch), ("tests.patch", paths.tests_patch))}
    record = {**provenance(paths), **(extra or {})}
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
        atomic.write_json(staging / "provenance.json", record)
        if target.exists():
            raise GenerationError(f"{target}: appeared while promoting; nothing was overwritten")
        staging.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target, verdict
