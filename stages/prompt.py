"""DVC stage `prompt@<task>`: prompt.md and hotspots.json of one task."""

import sys

from cooperbench.generation.pipeline import run_stage, stage_prompt

run_stage(stage_prompt, sys.argv[1])
