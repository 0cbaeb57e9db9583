"""Stage `validate@<model>`: the verdict on every attempt of one model, `jobs` at a time.

A verdict is keyed as keys.verdict_key says; one published with the same key is kept. A verdict
is a function of those inputs: timings, output tails and versions go to generated/logs/, which
no DVC stage tracks. An environment that cannot be built or run is no verdict: the stage fails.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import replace

from cooperbench.generation.errors import GenerationError
from cooperbench.generation.grading.grade import apply_rule
from cooperbench.generation.grading.validate import rule_regraded, validate_step
from cooperbench.generation.pipeline.common import (
    LOGS,
    attempts,
    check_inputs,
    checked_tasks,
    git_dir_for,
    load_params,
    publish_index,
    task_digest,
)
from cooperbench.generation.pipeline.keys import verdict_key
from cooperbench.generation.pipeline.layout import GENERATED
from cooperbench.generation.pipeline.parallel import run_items
from cooperbench.generation.pipeline.records import prune, published_key
from cooperbench.generation.schemas import ValidationSettings
from cooperbench.generation.util import atomic


def run(slug: str) -> None:
    params = load_params()
    if slug not in params.models:
        raise GenerationError(f"params.yaml: no model `{slug}` under `models`")
    tasks = checked_tasks(params)
    check_inputs(slug, "agent", "split")
    settings = ValidationSettings(**params.validation.model_dump(), backend=params.backend)
    jobs, kept, regraded = [], [], 0
    for task_name, k, paths in attempts(params, slug):
        key = verdict_key(paths, task_digest(task_name), settings)
        kept.append(paths.verdict)
        if published_key(paths.verdict_json) != key:
            jobs.append((task_name, k, paths, key))
        else:
            regraded += rule_regraded(paths, settings.require)
    prune(GENERATED / "verdicts" / slug, kept)
    git_dirs = {name: git_dir_for(params, tasks[name]) for name in {job[0] for job in jobs}}

    def one(job) -> None:
        task_name, k, paths, key = job
        staged = replace(paths, verdict=atomic.staging_dir(paths.verdict))
        try:
            verdict = validate_step(tasks[task_name], git_dirs[task_name], staged, settings, key=key)
            atomic.write_json(LOGS / "validate" / slug / task_name / f"attempt{k}.json", verdict["log"])
            atomic.replace_dir(staged.verdict, paths.verdict)
        finally:
            shutil.rmtree(staged.verdict, ignore_errors=True)

    run_items(jobs, one, jobs=params.jobs, name=lambda job: f"{job[0]} attempt{job[1]}", what="validations",
              retries=params.agent.retries)
    publish_index("verdicts", slug)
    verdicts = [json.loads((p / "verdict.json").read_text()) for p in kept]
    valid = sum(v["valid"] for v in verdicts)
    waiting = sum(apply_rule(v, "hard")["valid"] for v in verdicts) if settings.require == "solvable" else 0
    print(f"{slug}: {valid}/{len(kept)} valid under `require: {settings.require}`"
          + (f" ({waiting} with a hard conflict for the resolve stage)" if settings.require == "solvable" else "")
          + f" ({len(jobs)} validated now" + (f", {regraded} regraded under the rule" if regraded else "") + ")")
