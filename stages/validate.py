"""DVC stage `validate@<task>-<model>-<attempt>`: see cooperbench.generation.pipeline.stage_validate."""

import sys

from cooperbench.generation.pipeline import run_stage, stage_validate

run_stage(stage_validate, sys.argv[1], sys.argv[2], int(sys.argv[3]))
