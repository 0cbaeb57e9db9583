"""Stage `audit`: the quality audit of the tasks' own features, for the report (the same as
`check-dataset --quality`): every pair of each task's features classified clean, trivial or hard
(conflicts/classify.py). A task's record, `generated/audit/<task>.json`, is keyed by the task's
files, the validation settings (not the rule: classes do not depend on it) and the classifier's
code on its backend, so a task is audited again only when one of those changes."""

from __future__ import annotations

import json
from dataclasses import asdict

from cooperbench.generation.conflicts.classify import classify_task
from cooperbench.generation.core.codeversion import code_version
from cooperbench.generation.core.layout import GENERATED
from cooperbench.generation.core.records import key_of, published_key
from cooperbench.generation.pipeline.common import TASK_PARAMS, Stage, checked_tasks, git_dir_for, task_digest
from cooperbench.generation.schemas import Params, ValidationSettings
from cooperbench.generation.util import atomic
from cooperbench.generation.validation.selfcheck import quality_of

AUDIT = GENERATED / "audit"
CLASSIFIER = "cooperbench.generation.conflicts.classify"  # what makes an audit

STAGE = Stage(
    "audit",
    "The dataset's own features graded as a candidate is, and their conflicts classed "
    "(check-dataset --quality).",
    params=("backend", "validation.timeout", "repos", *TASK_PARAMS), deps=("generated/prompts",),
    outs=("generated/audit",), persist=("generated/audit",), reads=("jobs",),
)


def audit_file(task_name: str):
    return AUDIT / f"{task_name}.json"


def run(params: Params) -> None:
    tasks = checked_tasks(params)
    settings = ValidationSettings.of(backend=params.backend, timeout=params.validation.timeout)
    kept, audited = [], 0
    for name, task in tasks.items():
        file = audit_file(name)
        kept.append(file)
        key = key_of({"task_files": task_digest(name), "settings": settings.model_dump(mode="json", exclude={"require"}),
                      "code": code_version(CLASSIFIER, settings.backend)})
        if published_key(file) == key:
            continue
        records = classify_task(task, git_dir_for(params, task), settings, jobs=params.jobs)
        atomic.write_json(file, {"quality": asdict(quality_of(task, records)), "pairs": records, "key": key})
        audited += 1
    for stale in AUDIT.rglob("*.json") if AUDIT.is_dir() else []:
        if stale not in kept:
            stale.unlink()
    rows = [json.loads(file.read_text())["quality"] for file in kept]
    print(f"audit: {len(kept)} tasks ({audited} audited now, {len(kept) - audited} kept): "
          f"{sum(r['conflicting'] for r in rows)} conflicting pairs, {sum(r['trivial'] for r in rows)} trivial, "
          f"{sum(r['hard'] for r in rows)} hard")
