"""Stage `agent@<model>`: every attempt of one model over every task, `jobs` at a time.

Each attempt is keyed as keys.attempt_record says; an attempt published with the same key is kept
as it is (no model is called again); adding attempts or tasks runs only the new ones.
A failure of the machinery (endpoint, key, sandbox) records nothing and fails the stage, so the
next `dvc repro` retries exactly what is missing.
"""

from __future__ import annotations

import json
import shutil
import threading
import time
from collections import Counter
from dataclasses import dataclass

from cooperbench.generation.agent.decompose import PLAN_FILE, attempt_prompts, planned
from cooperbench.generation.agent.loop import agent_step
from cooperbench.generation.agent.models import check_model, probe_model
from cooperbench.generation.agent.verify import verifier_for
from cooperbench.generation.errors import GenerationError
from cooperbench.generation.pipeline.common import (
    LOGS,
    PROMPTS,
    attempts,
    checked_tasks,
    git_dir_for,
    load_params,
    publish_index,
    task_digest,
)
from cooperbench.generation.pipeline.keys import attempt_record
from cooperbench.generation.pipeline.layout import GENERATED, AttemptPaths
from cooperbench.generation.pipeline.parallel import run_items
from cooperbench.generation.pipeline.records import prune, published_key
from cooperbench.generation.schemas import AgentSettings, Params
from cooperbench.generation.tasks.task import Task
from cooperbench.generation.util import atomic


@dataclass(frozen=True)
class Job:
    task: Task
    attempt: int
    paths: AttemptPaths
    prompt: str
    record: dict


class CostBudget:
    """The `agent.max_total_cost` cap over one model's attempts: no attempt starts past it."""

    def __init__(self, cap: float | None, spent: float):
        self.cap, self.spent, self._lock = cap, spent, threading.Lock()

    def check(self) -> None:
        with self._lock:
            if self.cap is not None and self.spent >= self.cap:
                raise GenerationError(f"the cost cap agent.max_total_cost (${self.cap:.2f}) is reached "
                                      f"(${self.spent:.2f} spent); raise it to go on")

    def add(self, cost: float | None) -> None:
        with self._lock:
            self.spent += cost or 0.0


def settings_for(params: Params, slug: str) -> AgentSettings:
    return AgentSettings(model=params.models[slug], agent=params.agent)


def stage_prompts(params: Params, settings: AgentSettings, tasks: dict[str, Task], slug: str) -> dict[str, dict[int, str]]:
    """Per task, attempt k's prompt: the task's (the prompt stage's), or under `strategy:
    decompose` part k of the model's plan, kept beside its attempts (asked for once per key)."""
    numbers = list(range(1, params.attempts + 1))
    prompts = {}
    for name, task in tasks.items():
        prompt = (PROMPTS / name / "prompt.md").read_text(encoding="utf-8")
        prompts[name] = dict.fromkeys(numbers, prompt)
        if params.strategy == "decompose":
            check_model(settings.model.name, task.path)
            folder = AttemptPaths.pipeline(slug, name, 1).agent.parent
            plan = planned(task, settings, params.decompose, params.attempts, folder / PLAN_FILE)
            prompts[name] = attempt_prompts(task, prompt, plan, numbers)
    return prompts


def is_done(paths: AttemptPaths, key: str) -> bool:
    return paths.usage.is_file() and published_key(paths.outcome) == key


def run(slug: str) -> None:
    params = load_params()
    if slug not in params.models:
        raise GenerationError(f"params.yaml: no model `{slug}` under `models`")
    settings = settings_for(params, slug)
    tasks = checked_tasks(params)
    jobs, kept = [], []
    prompts = stage_prompts(params, settings, tasks, slug)
    for task_name, k, paths in attempts(params, slug):
        prompt = prompts[task_name][k]
        record = attempt_record(task_name, k, prompt, task_digest(task_name), settings, params.backend)
        kept.append(paths)
        if not is_done(paths, record["key"]):
            jobs.append(Job(tasks[task_name], k, paths, prompt, record))
    prune(GENERATED / "agent" / slug, [p.agent for p in kept])
    prune(GENERATED / "sessions" / slug, [p.session for p in kept])
    if jobs:
        for task in {job.task.name: job.task for job in jobs}.values():
            check_model(settings.model.name, task.path)
        probe_model(settings.model.name, settings.model.kwargs(), settings.agent.retries)
        git_dirs = {job.task.name: git_dir_for(params, job.task) for job in jobs}
        fresh = {job.paths for job in jobs}
        spent = sum(json.loads(p.usage.read_text())["cost"] or 0.0 for p in kept if p not in fresh)
        budget = CostBudget(params.agent.max_total_cost, spent)

        def one(job: Job) -> None:
            budget.check()
            started = time.monotonic()
            staged = AttemptPaths(atomic.staging_dir(job.paths.agent), atomic.staging_dir(job.paths.session),
                                  job.paths.split, job.paths.verdict)
            try:
                git_dir = git_dirs[job.task.name]
                _, log = agent_step(job.task, git_dir, job.prompt, settings, params.backend, staged,
                                    label=f"{slug} {job.task.name} attempt{job.attempt}", record=job.record,
                                    verify=verifier_for(job.task, git_dir, settings, params.backend))
                budget.add(json.loads(staged.usage.read_text())["cost"])
                atomic.replace_dir(staged.session, job.paths.session)
                atomic.replace_dir(staged.agent, job.paths.agent)
                atomic.write_json(LOGS / "agent" / slug / job.task.name / f"attempt{job.attempt}.json",
                                  {"seconds": round(time.monotonic() - started, 3), **log})  # sandbox and environment included
            finally:
                shutil.rmtree(staged.agent, ignore_errors=True)
                shutil.rmtree(staged.session, ignore_errors=True)

        run_items(jobs, one, jobs=params.jobs, name=lambda job: f"{job.task.name} attempt{job.attempt}", what="attempts",
                  retries=params.agent.retries)
    publish_index("agent", slug)
    publish_index("sessions", slug)
    endings = Counter(json.loads(p.outcome.read_text())["exit_status"] for p in kept)
    print(f"{slug}: {len(kept)} attempts ({len(jobs)} run now, {len(kept) - len(jobs)} kept): "
          + ", ".join(f"{status} {n}" for status, n in sorted(endings.items())))
