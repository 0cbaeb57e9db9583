"""CooperBench feature generation: prompt, agent, split, validate, report.

The seed's API: `generate_feature(...)` and `validate_generated_feature(...)`.
"""

from cooperbench.generation.errors import GenerationError
from cooperbench.generation.generator import GenerationResult, generate_feature
from cooperbench.generation.prompt import find_hotspots, render_prompt
from cooperbench.generation.splitter import split_diff
from cooperbench.generation.task import Feature, Task, load_dataset, load_task
from cooperbench.generation.validator import validate_generated_feature

__all__ = [
    "Feature",
    "GenerationError",
    "GenerationResult",
    "Task",
    "find_hotspots",
    "generate_feature",
    "load_dataset",
    "load_task",
    "render_prompt",
    "split_diff",
    "validate_generated_feature",
]
