"""DVC stage `report`: per-model metrics, report.md and plot data over every current attempt."""

from cooperbench.generation.pipeline import run_stage, stage_report

run_stage(stage_report)
