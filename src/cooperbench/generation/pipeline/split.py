"""Stage `split@<model>`: every attempt's diff of one model into feature.patch, tests.patch and
feature.md (cheap, so every attempt is split again when the stage runs)."""

from __future__ import annotations

import shutil
from dataclasses import replace

from cooperbench.generation import atomic
from cooperbench.generation.layout import GENERATED
from cooperbench.generation.pipeline.common import attempts, load_params, load_tasks
from cooperbench.generation.splitter import split_step
from cooperbench.generation.records import prune


def run(slug: str) -> None:
    params = load_params()
    tasks = load_tasks(params)
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
    print(f"{slug}: {len(kept)} attempts split, {len(kept) - problems} candidates")
