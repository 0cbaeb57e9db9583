"""CooperBench feature generation: prompt, agent, split, validate, report.

The public API grows with the pipeline; see README.md for what is built.
"""

from cooperbench.generation.errors import GenerationError
from cooperbench.generation.prompt import find_hotspots, render_prompt
from cooperbench.generation.splitter import split_diff
from cooperbench.generation.task import Feature, Task, load_dataset, load_task

__all__ = [
    "Feature",
    "GenerationError",
    "Task",
    "find_hotspots",
    "load_dataset",
    "load_task",
    "render_prompt",
    "split_diff",
]
