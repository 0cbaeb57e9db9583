"""DVC stage `agent@<model>`: see cooperbench.generation.pipeline.agent."""

import sys

from cooperbench.generation.pipeline.common import main
from cooperbench.generation.pipeline.agent import run

main(run, sys.argv[1])
