"""DVC stage `judge@<model>`: see cooperbench.generation.pipeline.judge."""

import sys

from cooperbench.generation.pipeline.common import main
from cooperbench.generation.pipeline.judge import STAGE, run

main(STAGE, run, *sys.argv[1:])
