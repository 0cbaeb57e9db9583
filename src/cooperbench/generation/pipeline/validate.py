"""Stage `validate@<model>`: the verdict on every attempt of one model, `jobs` at a time.

A verdict is keyed as keys.verdict_key says; one published with the same key is kept. A verdict
is a function of those inputs: timings, output tails and versions go to generated/logs/, which
no DVC stage tracks. An environment that cannot be built or run is no verdict: the stage fails.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from cooperbench.generation.core.keys import verdict_key
from cooperbench.generation.core.layout import GENERATED, AttemptPaths
from cooperbench.generation.core.records import prune, published_key
from cooperbench.generation.grading.grade import apply_rule, not_a_candidate
from cooperbench.generation.pipeline.common import (
    LOGS,
    TASK_PARAMS,
    Stage,
    attempts,
    check_inputs,
    checked_tasks,
    git_dir_for,
    publish_index,
    task_digest,
)
from cooperbench.generation.pipeline.parallel import run_items
from cooperbench.generation.schemas import Params, ValidationSettings, Verdict, dump, parse
from cooperbench.generation.tasks.task import Task
from cooperbench.generation.util import atomic
from cooperbench.generation.validation.candidate import validate_candidate

STAGE = Stage(
    "validate",
    "The verdict on every attempt of one model (`jobs` at a time; a verdict published "
    "under its key is kept).",
    params=("validation", "backend", "attempts", "repos", *TASK_PARAMS),
    deps=("generated/prompts", "generated/index/agent/${key}.json", "generated/index/split/${key}.json"),
    per_model=True, reads=("jobs", "agent.retries"),
    outs=("generated/verdicts/${key}", "generated/index/verdicts/${key}.json"), persist=("generated/verdicts/${key}",),
)


def rule_regraded(paths: AttemptPaths, require: str) -> bool:
    """Regrade a published verdict under another `validation.require`, with no sandbox (its key
    leaves the rule out); True when it was rewritten."""
    verdict = json.loads(paths.verdict_json.read_text(encoding="utf-8"))
    if verdict.get("require") == require:
        return False
    atomic.write_json(paths.verdict_json, dump(parse(apply_rule(verdict, require), Verdict, paths.verdict_json)))
    return True


def validate_step(task: Task, git_dir: Path, paths: AttemptPaths, settings: ValidationSettings, key: str = "") -> dict:
    """The verdict of an attempt: a full validation, or the reasons it is no candidate. Its `log`
    (timings, output tails, versions) is returned apart, not written into verdict.json."""
    split = json.loads(paths.split_json.read_text(encoding="utf-8"))
    outcome = json.loads(paths.outcome.read_text(encoding="utf-8"))
    if split["problems"]:
        verdict = apply_rule(not_a_candidate(task, list(zip(split["problem_keys"], split["problems"])), settings.backend),
                             settings.require)
    else:
        verdict = validate_candidate(task, read_text(paths.feature_patch), read_text(paths.tests_patch),
                                     git_dir=git_dir, settings=settings)
    verdict["agent_exit_status"] = outcome["exit_status"]
    if key:
        verdict["key"] = key  # the inputs it was computed from (pipeline/validate.py)
    log = verdict.pop("log", {})
    atomic.write_json(paths.verdict_json, dump(parse(verdict, Verdict, paths.verdict_json)))
    return {**verdict, "log": log}


def read_text(path: Path) -> str:
    return path.read_text(encoding="utf-8", errors="surrogateescape")


def run(params: Params, slug: str) -> None:
    tasks = checked_tasks(params)
    check_inputs(slug, "agent", "split")
    settings = ValidationSettings.of(params)
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
        with atomic.built(paths.verdict) as (folder,):
            verdict = validate_step(tasks[task_name], git_dirs[task_name], replace(paths, verdict=folder), settings, key=key)
            atomic.write_json(LOGS / "validate" / slug / task_name / f"attempt{k}.json", verdict["log"])

    run_items(jobs, one, jobs=params.jobs, name=lambda job: f"{job[0]} attempt{job[1]}", what="validations",
              retries=params.agent.retries)
    publish_index("verdicts", slug)
    verdicts = [json.loads((p / "verdict.json").read_text()) for p in kept]
    valid = sum(v["valid"] for v in verdicts)
    waiting = sum(apply_rule(v, "hard")["valid"] for v in verdicts) if settings.require == "solvable" else 0
    print(f"{slug}: {valid}/{len(kept)} valid under `require: {settings.require}`"
          + (f" ({waiting} with a hard conflict for the resolve stage)" if settings.require == "solvable" else "")
          + f" ({len(jobs)} validated now" + (f", {regraded} regraded under the rule" if regraded else "") + ")")
