"""DVC stage `agent@<model>`: see cooperbench.generation.pipeline.agent."""

import sys

from cooperbench.generation.pipeline.agent import run
from cooperbench.generation.pipeline.common import main

main(run, sys.argv[1])
