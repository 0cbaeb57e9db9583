"""DVC stage `validate@<model>`: see cooperbench.generation.pipeline.validate."""

import sys

from cooperbench.generation.pipeline.common import main
from cooperbench.generation.pipeline.validate import STAGE, run

main(STAGE, run, *sys.argv[1:])
