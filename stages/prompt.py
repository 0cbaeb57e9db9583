"""DVC stage `prompt`: see cooperbench.generation.pipeline.prompt."""

import sys

from cooperbench.generation.pipeline.common import main
from cooperbench.generation.pipeline.prompt import STAGE, run

main(STAGE, run, *sys.argv[1:])
