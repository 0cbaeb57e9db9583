"""Whole attempts for the CLI and the API: agent -> split -> validate into one folder.

Layout (layout.AttemptPaths.folder): `<output>/<repo>_task/task<N>/<model slug>/attempt<k>/` with
agent/ (diff, description, outcome, trajectory, usage), feature.patch, tests.patch, feature.md,
split.json and verdict.json. The DVC stages run the same three steps over the same attempt type,
under the same keys (keys.py), so "done" means the same here and there. An attempt is built in a
temporary folder and renamed into place only when complete: an interrupted run leaves no
half-written attempt.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from cooperbench.generation.agent.loop import agent_templates
from cooperbench.generation.agent.models import check_model, probe_model
from cooperbench.generation.agent.prompt import base_files, find_hotspots, render_prompt
from cooperbench.generation.agent.verify import verifier_for
from cooperbench.generation.core.keys import attempt_record, verdict_key
from cooperbench.generation.core.layout import RUNS, AttemptPaths, model_slug
from cooperbench.generation.core.records import digest_folder, published_key
from cooperbench.generation.errors import GenerationError
from cooperbench.generation.pipeline.agent import agent_done, agent_step, attempt_prompts
from cooperbench.generation.pipeline.parallel import run_items
from cooperbench.generation.pipeline.resolve import solve_attempt
from cooperbench.generation.pipeline.split import split_step
from cooperbench.generation.pipeline.validate import rule_regraded, validate_step
from cooperbench.generation.schemas import AgentSettings, DecomposeParams, ValidationSettings, Verdict, dump, parse
from cooperbench.generation.tasks.task import Task, resolve_repo
from cooperbench.generation.util import atomic
from cooperbench.generation.util.progress import say


def attempt_dir(output: Path, task: Task, model_name: str, attempt: int) -> Path:
    return Path(output) / task.repo_name / f"task{task.task_id}" / model_slug(model_name) / f"attempt{attempt}"


@dataclass
class GenerationResult:
    """What the seed's `generate_feature` returned, plus where the files are."""

    success: bool
    feature_patch: str
    tests_patch: str
    feature_md: str
    agent_cost: float | None
    verdict: dict
    trajectory_path: Path
    attempt_dir: Path
    usage: dict

    def summary_row(self) -> dict:
        return {
            "attempt": self.attempt_dir.name,
            "exit": self.usage["exit_status"],
            "steps": self.usage["steps"],
            "cost": self.agent_cost,
            "valid": self.success,
            "conflicts": self.verdict["conflict_result"]["conflicts"],
            "reasons": self.verdict["reasons"],
        }


def load_result(folder: Path) -> GenerationResult:
    paths = AttemptPaths.folder(folder)
    verdict = json.loads(paths.verdict_json.read_text())
    usage = json.loads(paths.usage.read_text())
    return GenerationResult(
        success=bool(verdict["valid"]),
        feature_patch=paths.feature_patch.read_text(),
        tests_patch=paths.tests_patch.read_text(),
        feature_md=paths.feature_md.read_text(),
        agent_cost=usage["cost"],
        verdict=verdict,
        trajectory_path=paths.trajectory,
        attempt_dir=folder,
        usage=usage,
    )


def run_attempt(task: Task, git_dir: Path, prompt: str, settings: AgentSettings, backend: str, target: Path,
                validation: ValidationSettings, attempt: int, resolver: AgentSettings | None = None) -> GenerationResult:
    """One whole attempt into `target`, keyed as the pipeline keys it (keys.py): an agent run
    with the same key is kept (not re-billed), a verdict with the same key is kept, anything else
    is done again, in a copy renamed over `target` only when complete. Under `require: solvable`
    the resolver then works on its hard pairs (records kept beside it, under their keys)."""
    label = f"{task.name} {target.parent.name} {target.name}"
    record = attempt_record(task.name, attempt, prompt, digest_folder(task.path), settings, backend)
    current = AttemptPaths.folder(target)
    reuse_agent = agent_done(current, record["key"])
    if reuse_agent and published_key(current.verdict_json) == verdict_key(current, digest_folder(task.path), validation):
        if rule_regraded(current, validation.require):
            say(f"[{label}] regraded under `require: {validation.require}`")
        else:
            say(f"[{label}] already complete for these inputs: kept")
    else:
        if target.exists() and not reuse_agent:
            say(f"[{label}] its inputs changed since it ran (prompt, task, settings or code): run again")
        with atomic.built(target) as (staging,):
            paths = AttemptPaths.folder(staging)
            if reuse_agent:
                shutil.copytree(current.agent, paths.agent)
            else:
                _, log = agent_step(task, git_dir, prompt, settings, backend, paths, label=label, record=record,
                                    verify=verifier_for(task, git_dir, settings, backend))
                atomic.write_json(paths.agent / "agent-log.json", log)
            split_step(task, paths)
            verdict = validate_step(task, git_dir, paths, validation, key=verdict_key(paths, digest_folder(task.path), validation))
            atomic.write_json(paths.agent / "validation-log.json", verdict["log"])
    if validation.require == "solvable":
        if resolver is None:
            raise GenerationError("`require: solvable` needs a resolver model (--resolver, or resolver.model in params.yaml)")
        verdict = json.loads(current.verdict_json.read_text(encoding="utf-8"))
        solved = solve_attempt(task, git_dir, current, verdict, resolver, validation, digest_folder(task.path), label=label)
        if solved != verdict:
            atomic.write_json(current.verdict_json, dump(parse(solved, Verdict, current.verdict_json)))
    result = load_result(target)
    say(f"[{label}] {'VALID' if result.success else 'invalid'} under `require: {validation.require}`: "
        f"{'; '.join(result.verdict['reasons']) or 'all checks passed'}")
    return result


def prepare(task: Task, settings: AgentSettings, repo: Path | None) -> tuple[Path, str]:
    """Everything an attempt needs that can fail before any sandbox starts: the model (name, key,
    replay file, one cheap call), the repository, the prompt."""
    check_model(settings.model.name, task.path)
    agent_templates(settings.agent.templates)
    probe_model(settings.model.name, settings.model.kwargs(), settings.agent.retries)
    git_dir = resolve_repo(task, repo)
    return git_dir, render_prompt(task, find_hotspots(task, base_files(task, git_dir)))


def generate_features(task: Task, settings: AgentSettings, *, backend: str = "local", attempts: int = 1,
                      output: Path = RUNS, jobs: int = 1, repo: Path | None = None,
                      validation: ValidationSettings | None = None, strategy: str = "generate",
                      decompose: DecomposeParams = DecomposeParams(),
                      resolver: AgentSettings | None = None) -> list[GenerationResult]:
    """Attempts 1..N for one task and model, up to `jobs` at a time: each a feature of the agent's
    own design, or (`strategy` decompose) each a part of a large feature (agent/decompose.py).
    `resolver`: the resolver's model, which `require: solvable` needs."""
    validation = validation or ValidationSettings.of(backend=backend)
    if validation.require == "solvable" and resolver is None:
        raise GenerationError("`require: solvable` needs a resolver model (--resolver, or resolver.model in params.yaml)")
    git_dir, prompt = prepare(task, settings, repo)
    numbers = list(range(1, attempts + 1))
    prompts = attempt_prompts(task, prompt, settings, strategy, decompose, numbers,
                              attempt_dir(output, task, settings.model.name, 1).parent)
    results: dict[int, GenerationResult] = {}

    def one(k: int) -> None:
        target = attempt_dir(output, task, settings.model.name, k)
        results[k] = run_attempt(task, git_dir, prompts[k], settings, backend, target, validation, k, resolver)

    run_items(numbers, one, jobs=jobs, name=lambda k: f"attempt{k}", what="attempts",
              retries=settings.agent.retries)
    return [results[k] for k in sorted(results)]


def render_summary(results: list[GenerationResult], output: Path) -> str:
    """The end-of-run table, and where the attempts are."""
    rows = [r.summary_row() for r in results]
    header = f"{'attempt':<10} {'exit':<16} {'steps':>5} {'cost':>9} {'valid':<6} {'conflicts':<12} reasons"
    lines = [header, "-" * len(header)]
    for row in rows:
        cost = "unknown" if row["cost"] is None else f"${row['cost']:.4f}"
        conflicts = ",".join(str(c) for c in row["conflicts"]) or "-"
        lines.append(f"{row['attempt']:<10} {row['exit']:<16} {row['steps']:>5} {cost:>9} {str(row['valid']):<6} "
                     f"{conflicts:<12} {'; '.join(row['reasons'])[:80]}")
    valid = sum(r["valid"] for r in rows)
    lines.append(f"{valid}/{len(rows)} valid; attempts in {results[0].attempt_dir.parent if results else output}")
    if any(r.usage["replay"] for r in results):
        lines.append("note: these are replays of a recorded session, not a live model's work")
    return "\n".join(lines) + "\n"
