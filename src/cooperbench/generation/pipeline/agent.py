"""Stage `agent@<model>`: every attempt of one model over every task, `jobs` at a time.

Each attempt is keyed as keys.attempt_record says; an attempt published with the same key is kept
as it is (no model is called again); adding attempts or tasks runs only the new ones.
A failure of the machinery (endpoint, key, sandbox) records nothing and fails the stage, so the
next `dvc repro` retries exactly what is missing.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from cooperbench.generation.agent.decompose import PLAN_FILE, plan_prompts, planned
from cooperbench.generation.agent.loop import ENDINGS, Verify, agent_templates, run_in_sandbox, settle_trajectory
from cooperbench.generation.agent.models import check_model, probe_model
from cooperbench.generation.agent.replay import is_replay
from cooperbench.generation.agent.verify import verifier_for
from cooperbench.generation.core import provenance
from cooperbench.generation.core.keys import attempt_record, prompt_hash
from cooperbench.generation.core.layout import GENERATED, AttemptPaths
from cooperbench.generation.core.records import prune, published_key
from cooperbench.generation.errors import GenerationError
from cooperbench.generation.pipeline.common import (
    LOGS,
    PROMPTS,
    TASK_PARAMS,
    Stage,
    attempts,
    checked_tasks,
    git_dir_for,
    publish_index,
    task_digest,
)
from cooperbench.generation.pipeline.parallel import run_items
from cooperbench.generation.schemas import AgentSettings, DecomposeParams, Outcome, Params, Usage, dump, parse
from cooperbench.generation.tasks.task import Task
from cooperbench.generation.util import atomic
from cooperbench.generation.util.progress import say

STAGE = Stage(
    "agent",
    "Every attempt of one model: the agent writes a feature and its tests in a sandbox "
    "(`jobs` at a time; an attempt published under its key is kept, never re-billed).",
    params=("models.${key}", "agent", "attempts", "backend", "strategy", "decompose", "repos", *TASK_PARAMS),
    deps=("generated/prompts", "agents"), per_model=True, reads=("jobs",),  # agents/: a project's own templates
    outs=("generated/agent/${key}", "generated/sessions/${key}", "generated/index/agent/${key}.json",
    "generated/index/sessions/${key}.json"),
    persist=("generated/agent/${key}", "generated/sessions/${key}"),
)


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
    return {name: attempt_prompts(task, (PROMPTS / name / "prompt.md").read_text(encoding="utf-8"), settings,
                                  params.strategy, params.decompose, numbers, AttemptPaths.pipeline(slug, name, 1).agent.parent)
            for name, task in tasks.items()}


def agent_done(paths: AttemptPaths, key: str) -> bool:
    """The agent's part of an attempt is done for these inputs: published under `key`, and it
    ended on its own (a recorded ending, not an infrastructure failure)."""
    if not (paths.usage.is_file() and published_key(paths.outcome) == key):
        return False
    return json.loads(paths.outcome.read_text(encoding="utf-8")).get("exit_status") in ENDINGS


def attempt_prompts(task: Task, prompt: str, settings: AgentSettings, strategy: str, decompose: DecomposeParams,
                    numbers: list[int], plan_folder: Path) -> dict[int, str]:
    """Attempt k's prompt: the task's, or under `strategy: decompose` part k of the model's plan
    of a large feature, kept in `plan_folder` (asked for once per key: decompose.planned)."""
    if strategy != "decompose":
        return dict.fromkeys(numbers, prompt)
    check_model(settings.model.name, task.path)
    plan = planned(task, settings, decompose, len(numbers), plan_folder / PLAN_FILE)
    say(f"[{task.name}] plan: {len(plan['parts'])} parts of feature{plan['feature']}: "
        + "; ".join(part["title"] for part in plan["parts"]))
    return plan_prompts(task, prompt, plan, numbers)


def agent_step(task: Task, git_dir: Path, prompt: str, settings: AgentSettings, backend: str, paths: AttemptPaths,
               *, label: str = "", record: dict | None = None, verify: Verify | None = None) -> tuple[dict, dict]:
    """Run the agent in a fresh sandbox and write its files to `paths` (which the caller then
    publishes). `record` (the attempt's identity) goes into outcome.json and usage.json. Returns
    the outcome and the run's log (wall time, message times, the project's commit): written
    apart by the caller, never into a tracked output."""
    for folder in {paths.agent, paths.session}:
        folder.mkdir(parents=True, exist_ok=True)
    outcome = run_in_sandbox(task, git_dir, prompt, settings, backend, paths.trajectory, verify=verify,
                             session=f"attempt{record['attempt']}" if (record or {}).get("attempt") else None,
                             on_step=lambda steps, cost: say(f"[{label}] step {steps}  ${cost:.4f}") if label else None)
    moments = settle_trajectory(paths.trajectory) if paths.trajectory.exists() else {}
    replay = is_replay(settings.model.name)
    result = {
        "exit_status": outcome.exit_status,
        "steps": outcome.steps,
        "replay": replay,
        "submission_matches_tree": outcome.submission_matches_tree,
        "diff_problem": outcome.diff_problem,
        **(record or {}),
    }
    usage = {
        "model": settings.model.name,
        "replay": replay,
        "backend": backend,
        "exit_status": outcome.exit_status,
        "steps": outcome.steps,
        "tokens": outcome.tokens,
        "cost": outcome.cost,
        "cost_known": outcome.cost is not None,
        "prompt_sha256": prompt_hash(prompt),
        "settings": settings.record(),
        "provenance": {**(record or {}), **provenance.versions()},
    }
    if replay:
        usage["note"] = "a replayed session: the recorded turns were re-issued, the commands really ran"
    atomic.write_text(paths.diff, outcome.diff)
    atomic.write_text(paths.description, outcome.description or "")
    atomic.write_json(paths.usage, dump(parse(usage, Usage, paths.usage)))
    atomic.write_json(paths.outcome, dump(parse(result, Outcome, paths.outcome)))
    return result, {"wall_time": outcome.wall_time, "project_commit": provenance.project_commit(), "trajectory": moments}


def run(params: Params, slug: str) -> None:
    settings = settings_for(params, slug)
    agent_templates(settings.agent.templates)  # a project's own templates, read before anything runs
    tasks = checked_tasks(params)
    jobs, kept = [], []
    prompts = stage_prompts(params, settings, tasks, slug)
    for task_name, k, paths in attempts(params, slug):
        prompt = prompts[task_name][k]
        record = attempt_record(task_name, k, prompt, task_digest(task_name), settings, params.backend)
        kept.append(paths)
        if not agent_done(paths, record["key"]):
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
            with atomic.built(job.paths.session, job.paths.agent) as (session, agent):  # the outcome, last, says done
                staged = AttemptPaths(agent, session, job.paths.split, job.paths.verdict)
                git_dir = git_dirs[job.task.name]
                _, log = agent_step(job.task, git_dir, job.prompt, settings, params.backend, staged,
                                    label=f"{slug} {job.task.name} attempt{job.attempt}", record=job.record,
                                    verify=verifier_for(job.task, git_dir, settings, params.backend))
                budget.add(json.loads(staged.usage.read_text())["cost"])
            atomic.write_json(LOGS / "agent" / slug / job.task.name / f"attempt{job.attempt}.json",
                              {"seconds": round(time.monotonic() - started, 3), **log})  # sandbox and environment included

        run_items(jobs, one, jobs=params.jobs, name=lambda job: f"{job.task.name} attempt{job.attempt}", what="attempts",
                  retries=params.agent.retries)
    publish_index("agent", slug)
    publish_index("sessions", slug)
    endings = Counter(json.loads(p.outcome.read_text())["exit_status"] for p in kept)
    print(f"{slug}: {len(kept)} attempts ({len(jobs)} run now, {len(kept) - len(jobs)} kept): "
          + ", ".join(f"{status} {n}" for status, n in sorted(endings.items())))
