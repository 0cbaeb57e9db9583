"""DVC stage `split@<task>-<model>-<attempt>`: see cooperbench.generation.pipeline.stage_split."""

import sys

from cooperbench.generation.pipeline import run_stage, stage_split

run_stage(stage_split, sys.argv[1], sys.argv[2], int(sys.argv[3]))
