"""DVC stage `agent@<model>`: see cooperbench.generation.pipeline.agent."""

import sys

from cooperbench.generation.pipeline.agent import STAGE, run
from cooperbench.generation.pipeline.common import main

main(STAGE, run, *sys.argv[1:])
