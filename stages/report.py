"""DVC stage `report`: see cooperbench.generation.pipeline.report."""

import sys

from cooperbench.generation.pipeline.common import main
from cooperbench.generation.pipeline.report import STAGE, run

main(STAGE, run, *sys.argv[1:])
