"""Stage `split@<model>`: every attempt's diff of one model into feature.patch, tests.patch and
feature.md (cheap, so every attempt is split again when the stage runs). It reads that model's
agent outputs, checked against the agent stage's index."""

from __future__ import annotations

import shutil
from dataclasses import replace

from cooperbench.generation.patches.splitter import split_step
from cooperbench.generation.pipeline.common import attempts, check_inputs, checked_tasks, load_params, publish_index
from cooperbench.generation.pipeline.layout import GENERATED
from cooperbench.generation.pipeline.records import prune
from cooperbench.generation.util import atomic


def run(slug: str) -> None:
    params = load_params()
    tasks = checked_tasks(params)
    check_inputs(slug, "agent")
    kept, problems = [], 0
    for task_name, _, paths in attempts(params, slug):
        staged = replace(paths, split=atomic.staging_dir(paths.split))
        try:
            problems += bool(split_step(tasks[task_name], staged).problems)
            atomic.replace_dir(staged.split, paths.split)
        finally:
            shutil.rmtree(staged.split, ignore_errors=True)
        kept.append(paths.split)
    prune(GENERATED / "split" / slug, kept)
    publish_index("split", slug)
    print(f"{slug}: {len(kept)} attempts split, {len(kept) - problems} candidates")
