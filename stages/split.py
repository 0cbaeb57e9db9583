"""DVC stage `split@<model>`: see cooperbench.generation.pipeline.split."""

import sys

from cooperbench.generation.pipeline.common import main
from cooperbench.generation.pipeline.split import STAGE, run

main(STAGE, run, *sys.argv[1:])
