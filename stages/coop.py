"""DVC stage `coop@<model>`: see cooperbench.generation.pipeline.coop."""

import sys

from cooperbench.generation.pipeline.common import main
from cooperbench.generation.pipeline.coop import STAGE, run

main(STAGE, run, *sys.argv[1:])
