"""DVC stage `resolve@<model>`: see cooperbench.generation.pipeline.resolve."""

import sys

from cooperbench.generation.pipeline.common import main
from cooperbench.generation.pipeline.resolve import STAGE, run

main(STAGE, run, *sys.argv[1:])
