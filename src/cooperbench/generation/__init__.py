"""CooperBench feature generation: prompt, agent, split, validate, report.

The seed's API: `generate_feature(...)` and `validate_generated_feature(...)`. Names are loaded on
first use, so that importing one module (a DVC stage, say) loads only what that module imports.
"""

from __future__ import annotations

from importlib import import_module

_EXPORTS = {
    "GenerationError": "errors",
    "GenerationResult": "generator",
    "generate_feature": "generator",
    "find_hotspots": "prompt",
    "render_prompt": "prompt",
    "split_diff": "splitter",
    "Feature": "task",
    "Task": "task",
    "load_dataset": "task",
    "load_task": "task",
    "validate_generated_feature": "validator",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{_EXPORTS[name]}"), name)
