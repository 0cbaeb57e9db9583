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
from dataclasses import replace
from pathlib import Path

from cooperbench.generation.core.layout import AttemptPaths
from cooperbench.generation.core.records import digest_folder
from cooperbench.generation.errors import GenerationError
from cooperbench.generation.grading.grade import apply_judgement
from cooperbench.generation.pipeline.judge import judged
from cooperbench.generation.pipeline.resolve import solve_attempt
from cooperbench.generation.schemas import AgentSettings, JudgeParams, ValidationSettings
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
            extra: dict | None = None, resolver: AgentSettings | None = None, judge: JudgeParams = JudgeParams(),
            retries: int = 1) -> tuple[Path, dict]:
    """Copy `attempt`'s feature into the task as the next feature folder; returns (folder, verdict).
    `attempt` is a CLI attempt folder or any stage folder of a pipeline attempt; `extra` goes into
    its provenance (an expansion round says which), with the rule it was accepted under. Under
    `require: solvable` the resolver works on its hard pairs in a scratch copy of the attempt's
    records (kept ones are reused; the attempt's folder, maybe a DVC output, is not written). With
    `judge.require_ok`, the judge must label its description ok (its kept judgement, or one made now)."""
    paths = AttemptPaths.of(attempt)
    texts = {name: read_feature_file(file) for name, file in
             (("feature.md", paths.feature_md), ("feature.patch", paths.feature_patch), ("tests.patch", paths.tests_patch))}
    record = {**provenance(paths), **(extra or {})}
    verdict = validate_candidate(task, texts["feature.patch"], texts["tests.patch"], git_dir=git_dir, settings=settings)
    if settings.require == "solvable":
        if resolver is None:
            raise GenerationError("`require: solvable` needs a resolver model (--resolver, or resolver.model in params.yaml)")
        with tempfile.TemporaryDirectory(prefix="cooperbench-resolutions-") as scratch:
            if paths.resolutions is not None and paths.resolutions.is_dir():
                shutil.copytree(paths.resolutions, scratch, dirs_exist_ok=True)
            verdict = solve_attempt(task, git_dir, replace(paths, resolutions=Path(scratch)), verdict, resolver, settings,
                                    digest_folder(task.path), label=f"promote {attempt}")
    solved = [p["feature"] for p in verdict["conflict_result"]["pairs"] if p.get("resolution", {}).get("status") == "solvable"]
    record["validity"] = {"require": settings.require, "resolver": resolver.model.name if solved and resolver else None,
                          "solved_pairs": solved}
    if judge.require_ok and verdict["valid"]:
        judgement = judged(task, git_dir, paths, judge, retries=retries)
        record["validity"]["judgement"] = {k: judgement[k] for k in ("label", "reasons", "model")}
        verdict = apply_judgement(verdict, judgement)
    if not verdict["valid"]:
        rule = f"`require: {settings.require}`" + (" and judge.require_ok" if judge.require_ok else "")
        raise GenerationError(f"{attempt}: not valid under {rule} against the current features "
                              f"of {task.name}: {'; '.join(verdict['reasons'])}")
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
