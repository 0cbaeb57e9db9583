"""Stage `prompt@<task>`: the agent's prompt and the task's hot spots."""

from __future__ import annotations

from cooperbench.generation.pipeline.common import DATASET, PROMPTS, load_params
from cooperbench.generation.prompt import write_prompt
from cooperbench.generation.task import load_task


def run(task_name: str) -> None:
    params = load_params()
    write_prompt(load_task(DATASET / task_name), PROMPTS / task_name, max_hotspots=params.prompt.max_hotspots)
    print(f"{task_name}: prompt written")
