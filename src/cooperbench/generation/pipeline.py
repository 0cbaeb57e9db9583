"""The DVC pipeline's side of the library: params.yaml, output paths, one function per stage.

`stages/*.py` are thin shells over these functions; the CLI uses the same steps through
`generator.py`. Outputs live under `generated/tasks/<repo>_task/task<N>/` (the prompt) and
`.../<model slug>/attempt<k>/` (agent/, split files, verdict.json); the report writes
`generated/metrics.json`, `generated/report.md` and `generated/plots/`.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Callable

import yaml

from cooperbench.generation import prompt as prompt_mod
from cooperbench.generation.agent import AgentSettings, agent_step, check_model
from cooperbench.generation.errors import GenerationError
from cooperbench.generation.report import write_report
from cooperbench.generation.splitter import split_step
from cooperbench.generation.task import Task, load_task, resolve_repo
from cooperbench.generation.validator import ValidationSettings, validate_step

PARAMS = Path("params.yaml")
DATASET = Path("dataset")
GENERATED = Path("generated")
TASKS_OUT = GENERATED / "tasks"
# DVC names matrix stages by joining values with "-": a "-" or "." inside a value could make two
# stages share a name (one silently lost) or break params tracking.
SLUG_RE = re.compile(r"^[A-Za-z0-9_]+$")
TASK_RE = re.compile(r"^[A-Za-z0-9_]+/task\d+$")
MODEL_KEYS = {"name", "step_limit", "cost_limit", "temperature", "model_kwargs"}


def load_params(path: Path = PARAMS) -> dict:
    try:
        params = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise GenerationError(f"{path}: {exc.strerror.lower()}") from None
    except yaml.YAMLError as exc:
        raise GenerationError(f"{path}: invalid YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(params, dict):
        raise GenerationError(f"{path}: expected a mapping")
    return params


def check_params(params: dict, path: Path = PARAMS, dataset: Path = DATASET) -> list[Task]:
    """Everything a run depends on is there and well-formed; returns the loaded tasks."""
    tasks = params.get("tasks")
    if not isinstance(tasks, list) or not tasks:
        raise GenerationError(f"{path}: `tasks` must be a non-empty list of <repo>_task/task<N>")
    models = params.get("models")
    if not isinstance(models, dict) or not models:
        raise GenerationError(f"{path}: `models` must map a short slug to its settings")
    attempts = params.get("attempts")
    if not isinstance(attempts, list) or not attempts or not all(isinstance(a, int) and a > 0 for a in attempts):
        raise GenerationError(f"{path}: `attempts` must be a list of attempt numbers, e.g. [1, 2]")
    if params.get("backend") not in ("local", "docker", "modal"):
        raise GenerationError(f"{path}: `backend` must be local, docker or modal")
    loaded = []
    for name in tasks:
        if not isinstance(name, str) or not TASK_RE.match(name):
            raise GenerationError(f"{path}: task {name!r}: write it as <repo>_task/task<N> (letters, digits, _)")
        if not (dataset / name).is_dir():
            raise GenerationError(f"{path}: task {name} does not exist under {dataset}/")
        loaded.append(load_task(dataset / name))
    for slug, settings in models.items():
        if not SLUG_RE.match(str(slug)):
            raise GenerationError(f"{path}: model slug {slug!r}: use letters, digits and _ only (no - or .)")
        if not isinstance(settings, dict) or not settings.get("name"):
            raise GenerationError(f"{path}: model {slug} has no settings (it needs at least `name: <litellm model>`)")
        unknown = set(settings) - MODEL_KEYS
        if unknown:
            raise GenerationError(f"{path}: model {slug}: unknown settings {', '.join(sorted(unknown))}")
        for task in loaded:
            check_model(settings["name"], task.path)
    return loaded


def agent_settings(params: dict, slug: str) -> AgentSettings:
    model = params["models"][slug]
    agent = params.get("agent") or {}
    kwargs = dict(model.get("model_kwargs") or {})
    if model.get("temperature") is not None:
        kwargs["temperature"] = model["temperature"]
    return AgentSettings(
        model=model["name"],
        step_limit=int(model.get("step_limit", AgentSettings.step_limit)),
        cost_limit=float(model.get("cost_limit", AgentSettings.cost_limit)),
        wall_time_limit=int(agent.get("wall_time_limit", AgentSettings.wall_time_limit)),
        command_timeout=int(agent.get("command_timeout", AgentSettings.command_timeout)),
        model_kwargs=kwargs,
    )


def validation_settings(params: dict) -> ValidationSettings:
    return ValidationSettings(backend=params["backend"], timeout=float((params.get("validation") or {}).get("timeout", 300)))


def task_dir_out(task_name: str) -> Path:
    return TASKS_OUT / task_name


def attempt_out(task_name: str, slug: str, attempt: int) -> Path:
    return TASKS_OUT / task_name / slug / f"attempt{attempt}"


def git_dir_for(params: dict, task: Task) -> Path:
    """The task's repository: shipped, or the clone `repos:` in params.yaml names for it."""
    clone = (params.get("repos") or {}).get(task.name)
    return resolve_repo(task, Path(clone) if clone else None)


# ---------------------------------------------------------------- stages


def stage_check() -> None:
    """Fails, in one line, before any other stage runs when params.yaml is wrong."""
    tasks = check_params(load_params())
    marker = GENERATED / "params-ok.txt"
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text("params.yaml checked\n")  # constant: downstream stages rerun for their own params only
    print(f"params.yaml: {len(tasks)} task(s), {len(load_params()['models'])} model(s) ok")


def stage_prompt(task_name: str) -> None:
    params = load_params()
    task = load_task(DATASET / task_name)
    options = params.get("prompt") or {}
    prompt_mod.write_prompt(task, task_dir_out(task_name) / "prompt", max_hotspots=int(options.get("max_hotspots", 8)))


def stage_agent(task_name: str, slug: str, attempt: int) -> None:
    params = load_params()
    task = load_task(DATASET / task_name)
    prompt = (task_dir_out(task_name) / "prompt" / "prompt.md").read_text(encoding="utf-8")
    target = attempt_out(task_name, slug, attempt)
    usage = agent_step(task, git_dir_for(params, task), prompt, agent_settings(params, slug), params["backend"],
                       target / "agent", label=f"{task_name} {slug} attempt{attempt}")
    print(f"{task_name} {slug} attempt{attempt}: {usage['exit_status']} after {usage['steps']} steps"
          f"{' (replay)' if usage['replay'] else ''}")


def stage_split(task_name: str, slug: str, attempt: int) -> None:
    target = attempt_out(task_name, slug, attempt)
    split = split_step(load_task(DATASET / task_name), target / "agent", target)
    print(f"{task_name} {slug} attempt{attempt}: {len(split.source_files)} source, {len(split.test_files)} test file(s)"
          + (f"; {'; '.join(split.problems)}" if split.problems else ""))


def stage_validate(task_name: str, slug: str, attempt: int) -> None:
    params = load_params()
    task = load_task(DATASET / task_name)
    target = attempt_out(task_name, slug, attempt)
    verdict = validate_step(task, git_dir_for(params, task), target, target / "agent", validation_settings(params),
                            target / "verdict.json")
    print(f"{task_name} {slug} attempt{attempt}: {'VALID' if verdict['valid'] else 'invalid: ' + '; '.join(verdict['reasons'])}")


def stage_report() -> None:
    """Aggregate the current tasks x models x attempts; print the report (dvc repro ends on it)."""
    params = load_params()
    tasks = {}
    for name in params["tasks"]:
        task = load_task(DATASET / name)
        tasks[name] = (task, git_dir_for(params, task))
    print(write_report(params, tasks, attempt_out, GENERATED), end="")


def run_stage(function: Callable[..., None], *args: str) -> None:
    """Entry for stages/*.py: a GenerationError is one line on stderr and exit code 1."""
    try:
        function(*args)
    except GenerationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)
