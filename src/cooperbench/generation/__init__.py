"""CooperBench feature generation: prompt, agent, split, validate, report.

The seed's API: `generate_feature(...)` and `validate_generated_feature(...)`. Names are loaded on
first use, so that importing one module (a DVC stage, say) loads only what that module imports.
"""

from __future__ import annotations

from importlib import import_module

_EXPORTS = {
    "GenerationError": "errors",
    "GenerationResult": "pipeline.attempts",
    "generate_feature": "api",
    "find_hotspots": "agent.prompt",
    "render_prompt": "agent.prompt",
    "split_diff": "patches.splitter",
    "Feature": "tasks.task",
    "Task": "tasks.task",
    "load_dataset": "tasks.task",
    "load_task": "tasks.task",
    "validate_generated_feature": "api",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{_EXPORTS[name]}"), name)
