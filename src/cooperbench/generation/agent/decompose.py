"""Decomposition, the second generation strategy: one planning call proposes smaller features of
a large existing feature, then each attempt implements one of them.

A feature is large when its source change touches at least `min_files` files or changes at least
`min_lines` lines (params.yaml `decompose`); the largest is split unless one is named. The plan is
one completion of the agent's model through litellm; a replay model answers with its recorded
plan (`<task>/replays/<name>.plan.json`), with no network and no litellm. Attempt
k implements part k (the parts repeat when the attempts outnumber them): its prompt is the task's
prompt and the part (templates/subfeature.md). Validation and promotion are as for any attempt:
a part must conflict, pass its tests and be no copy. Plans are kept under a key (keys.plan_key),
so one is never asked for (or billed) twice.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from string import Template

from cooperbench.generation.agent.models import is_model_behaviour, litellm_module
from cooperbench.generation.agent.replay import REPLAY_PREFIX, is_replay
from cooperbench.generation.core.keys import plan_key
from cooperbench.generation.core.records import digest_folder
from cooperbench.generation.errors import GenerationError, InfrastructureError
from cooperbench.generation.patches import diffs
from cooperbench.generation.schemas import AgentSettings, DecomposeParams
from cooperbench.generation.tasks.task import Feature, Task
from cooperbench.generation.util import atomic

PLAN_LIMIT = 64 * 1024  # characters of a plan's answer
PATCH_SHOWN = 40_000  # characters of the feature's source change in the planning prompt
TEXT_LIMIT = 4000  # characters of a part's title and description
PLAN_FILE = "decompose-plan.json"  # beside a model's attempts of a task


@dataclass(frozen=True)
class Part:
    title: str
    description: str


def source_size(feature: Feature, test_patterns: tuple[str, ...]) -> tuple[int, int]:
    """(files, changed lines) of a feature's source change, test files left out."""
    source = [f for f in diffs.parse_diff(feature.feature_patch, f"feature{feature.id}/feature.patch")
              if not diffs.is_test_path(f.path, test_patterns)]
    lines = sum(1 for f in source for hunk in f.parsed for line in hunk if line.is_added or line.is_removed)
    return len(source), lines


def large_feature(task: Task, params: DecomposeParams) -> Feature:
    """The feature to split: the one named, else the largest large one."""
    if params.feature is not None:
        return task.feature(params.feature)
    sizes = {f.id: source_size(f, task.test_patterns) for f in task.features}
    large = [f for f in task.features if sizes[f.id][0] >= params.min_files or sizes[f.id][1] >= params.min_lines]
    if not large:
        raise GenerationError(f"{task.name}: no feature is large enough to decompose (at least {params.min_files} "
                              f"files or {params.min_lines} changed source lines); name one (--feature K, or "
                              "decompose.feature in params.yaml)")
    return max(large, key=lambda f: (sizes[f.id][1], sizes[f.id][0], -f.id))


def _template(name: str) -> Template:
    return Template(files("cooperbench.generation.agent").joinpath(f"templates/{name}").read_text(encoding="utf-8"))


def _files(feature: Feature) -> str:
    return ", ".join(f"`{f.path}`" for f in diffs.parse_diff(feature.feature_patch, "feature.patch"))


def planning_prompt(task: Task, feature: Feature, parts: int) -> str:
    return _template("decompose.md").substitute(
        task=task.name, feature_list="\n".join(f"- feature{f.id}: {f.title}" for f in task.features),
        feature_id=feature.id, title=feature.title, files=_files(feature), description=feature.description.strip(),
        patch=feature.feature_patch[:PATCH_SHOWN], parts=parts)


def part_prompt(base_prompt: str, task: Task, feature_id: int, part: Part) -> str:
    """The prompt of an attempt that implements `part` of feature `feature_id`."""
    parent = task.feature(feature_id)
    return base_prompt + _template("subfeature.md").substitute(
        feature_id=parent.id, parent_title=parent.title, files=_files(parent), title=part.title,
        description=part.description)


def ask(settings: AgentSettings, prompt: str, task_path: Path) -> tuple[str, float | None]:
    """The model's answer to the planning prompt, and its cost (None: unknown)."""
    if is_replay(settings.model.name):
        file = task_path / "replays" / f"{settings.model.name[len(REPLAY_PREFIX):]}.plan.json"
        try:
            return str(json.loads(file.read_text(encoding="utf-8"))["content"]), 0.0
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise GenerationError(f"{file}: no recorded plan ({type(exc).__name__}): a replayed decomposition needs one") from None
    litellm = litellm_module()
    messages = [{"role": "user", "content": prompt}]
    try:
        response = litellm.completion(model=settings.model.name, messages=messages, num_retries=settings.agent.retries,
                                      **settings.model.kwargs())
    except Exception as exc:
        if is_model_behaviour(exc):
            raise GenerationError(f"{settings.model.name}: the planning prompt is too long for the model") from None
        raise InfrastructureError(f"{settings.model.name}: the planning call failed ({type(exc).__name__}: "
                                  f"{str(exc).splitlines()[0][:200] if str(exc) else 'no message'})") from None
    try:
        cost = float(litellm.completion_cost(completion_response=response))
    except Exception:
        cost = None
    return response.choices[0].message.content or "", cost


def parse_plan(answer: str, origin: str) -> list[Part]:
    """The parts of a plan's answer (JSON, perhaps in a code fence), each a title and a description."""
    text = answer[:PLAN_LIMIT]
    try:
        data = json.loads(text[text.index("{"):text.rindex("}") + 1])
        parts = [Part(str(p["title"]).strip()[:TEXT_LIMIT], str(p["description"]).strip()[:TEXT_LIMIT])
                 for p in data["parts"]]
    except (ValueError, KeyError, TypeError):
        raise GenerationError(f"{origin}: the plan is not JSON with parts of a title and a description "
                              f"({answer[:80]!r})") from None
    parts = [p for p in parts if p.title and p.description]
    if not parts:
        raise GenerationError(f"{origin}: the plan has no part")
    return parts


def planned(task: Task, settings: AgentSettings, params: DecomposeParams, parts: int, file: Path) -> dict:
    """The plan in `file` when its key is this one, else asked for now and written there."""
    feature = large_feature(task, params)
    prompt = planning_prompt(task, feature, parts)
    key = plan_key(digest_folder(task.path), settings, prompt)
    if file.is_file():
        kept = json.loads(file.read_text(encoding="utf-8"))
        if kept.get("key") == key:
            return kept
    answer, cost = ask(settings, prompt, task.path)
    plan = {"feature": feature.id, "parts": [vars(p) for p in parse_plan(answer, f"{settings.model.name} on {task.name}")],
            "model": settings.model.name, "replay": is_replay(settings.model.name), "cost": cost, "key": key}
    atomic.write_json(file, plan)
    return plan


def plan_prompts(task: Task, base_prompt: str, plan: dict, attempts: list[int]) -> dict[int, str]:
    """Attempt k's prompt: part k of the plan (the parts repeat when the attempts outnumber them)."""
    parts = [Part(**p) for p in plan["parts"]]
    return {k: part_prompt(base_prompt, task, plan["feature"], parts[(k - 1) % len(parts)]) for k in attempts}
