"""DVC stage `check`: params.yaml is well-formed and names tasks and models that exist."""

from cooperbench.generation.pipeline import run_stage, stage_check

run_stage(stage_check)
