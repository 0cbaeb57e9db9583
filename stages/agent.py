"""DVC stage `agent@<task>-<model>-<attempt>`: see cooperbench.generation.pipeline.stage_agent."""

import sys

from cooperbench.generation.pipeline import run_stage, stage_agent

run_stage(stage_agent, sys.argv[1], sys.argv[2], int(sys.argv[3]))
