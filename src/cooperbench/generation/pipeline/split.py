"""Stage `split@<model>`: every attempt's diff of one model into feature.patch, tests.patch and
feature.md (cheap, so every attempt is split again when the stage runs). It reads that model's
agent outputs, checked against the agent stage's index."""

from __future__ import annotations

import json
from dataclasses import replace

from cooperbench.generation.core.layout import GENERATED, AttemptPaths
from cooperbench.generation.core.records import prune
from cooperbench.generation.patches.splitter import Split, split_diff, write_split
from cooperbench.generation.pipeline.common import (
    TASK_PARAMS,
    Stage,
    attempts,
    check_inputs,
    checked_tasks,
    publish_index,
)
from cooperbench.generation.schemas import Params
from cooperbench.generation.tasks.task import Task
from cooperbench.generation.util import atomic

STAGE = Stage(
    "split",
    "Each attempt's diff split into feature.patch, tests.patch and feature.md.",
    params=("attempts", *TASK_PARAMS), deps=("generated/prompts", "generated/index/agent/${key}.json"), per_model=True,
    outs=("generated/split/${key}", "generated/index/split/${key}.json"),
)


def split_step(task: Task, paths: AttemptPaths) -> Split:
    """Split an attempt's diff into its split folder; the description file the agent wrote wins
    over the diff's copy."""
    outcome = json.loads(paths.outcome.read_text(encoding="utf-8"))
    description = paths.description.read_text(encoding="utf-8", errors="replace")
    split = split_diff(
        paths.diff.read_text(encoding="utf-8", errors="surrogateescape"),
        origin=str(paths.diff),
        test_patterns=task.test_patterns,
        description=description or None,
    )
    split.no_diff = outcome.get("diff_problem")
    write_split(split, paths.split)
    return split


def run(params: Params, slug: str) -> None:
    tasks = checked_tasks(params)
    check_inputs(slug, "agent")
    kept, problems = [], 0
    for task_name, _, paths in attempts(params, slug):
        with atomic.built(paths.split) as (split,):
            problems += bool(split_step(tasks[task_name], replace(paths, split=split)).problems)
        kept.append(paths.split)
    prune(GENERATED / "split" / slug, kept)
    publish_index("split", slug)
    print(f"{slug}: {len(kept)} attempts split, {len(kept) - problems} candidates")
