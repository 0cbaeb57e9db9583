"""Stage `report`: metrics per model (DVC metrics), results per task, report.md and plot data,
over the tasks, models and attempts params.yaml names now, from outputs checked against their
stages' indexes."""

from __future__ import annotations

from cooperbench.generation.layout import GENERATED
from cooperbench.generation.pipeline.common import attempts, check_inputs, checked_tasks, git_dir_for, load_params
from cooperbench.generation.report import read_attempt, write_report


def run() -> None:
    params = load_params()
    tasks = checked_tasks(params)
    for slug in params.models:
        check_inputs(slug, "sessions", "split", "verdicts")
    by_model = {slug: [read_attempt(task, k, paths) for task, k, paths in attempts(params, slug)] for slug in params.models}
    located = {name: (task, git_dir_for(params, task)) for name, task in tasks.items()}
    print(write_report(by_model, located, GENERATED), end="")
