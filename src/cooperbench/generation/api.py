"""The seed's Python API: `generate_feature` and `validate_generated_feature`, over the same
attempts, keys, settings and verdicts as the CLI and the DVC stages.

A repository is found as everywhere else: the one shipped in the task, the clone `repo` names,
or, run from a project folder, the clone its params.yaml `repos:` names for the task.
"""

from __future__ import annotations

from pathlib import Path

from cooperbench.generation.core.layout import RUNS
from cooperbench.generation.pipeline.attempts import GenerationResult, attempt_dir, prepare, run_attempt
from cooperbench.generation.pipeline.validity import project_params, validate_under, validity
from cooperbench.generation.schemas import DEFAULT_MODEL, AgentSettings, Params, read_yaml
from cooperbench.generation.tasks.task import Task, load_task, resolve_repo
from cooperbench.generation.util.environment import prepare_environment


def project_clone(task: Task) -> Path | None:
    """The clone params.yaml `repos:` names for `task`, when run from a project folder."""
    params = project_params()
    if not params.is_file():
        return None
    clone = read_yaml(params, Params).repos.get(task.name)
    return Path(clone) if clone else None


def generate_feature(task_dir: str | Path, model_name: str = DEFAULT_MODEL, backend: str = "local", *,
                     output: str | Path = RUNS, attempt: int = 1, repo: str | Path | None = None,
                     timeout: float | None = None, require: str | None = None, resolver: str | None = None,
                     **agent_settings) -> GenerationResult:
    """One attempt at a new feature for the task in `task_dir`. `agent_settings` are any fields
    of params.yaml's `models.<slug>` and `agent` (step_limit, cost_limit, sample, ...). The rule
    (`require`, `resolver`, `timeout`) defaults to params.yaml's when run from a project folder, as
    the CLI's does. It prepares the process environment as the CLI does at start
    (util/environment.py: .env, quiet libraries)."""
    prepare_environment()
    task = load_task(task_dir)
    settings = AgentSettings.of(model_name, **agent_settings)
    rule = validity(project_params(), backend=backend, timeout=timeout, require=require, resolver=resolver)
    git_dir, prompt = prepare(task, settings, Path(repo) if repo else project_clone(task))
    target = attempt_dir(Path(output), task, settings.model.name, attempt)
    return run_attempt(task, git_dir, prompt, settings, backend, target, rule.settings, attempt, rule.resolver)


def validate_generated_feature(repo_name: str, task_id: int, feature_patch: str, tests_patch: str, *,
                               dataset_root: str | Path = "dataset", backend: str = "local",
                               timeout: float | None = None, repo: str | Path | None = None,
                               require: str | None = None, resolver: str | None = None,
                               description: str | None = None) -> dict:
    """Validate a candidate for `<dataset_root>/<repo_name>/task<task_id>` under the rule (as
    `generate_feature`; `solvable` needs the candidate's `description`); the verdict dict:
    `verdict['valid']`, `verdict['conflict_result']['conflicts']`, ..."""
    folder = repo_name if repo_name.endswith("_task") else f"{repo_name}_task"
    task = load_task(Path(dataset_root) / folder / f"task{task_id}")
    git_dir = resolve_repo(task, Path(repo) if repo else project_clone(task))
    rule = validity(project_params(), backend=backend, timeout=timeout, require=require, resolver=resolver)
    return validate_under(task, git_dir, feature_patch, tests_patch, description, rule, label=f"validate {task.name}")
