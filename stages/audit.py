"""DVC stage `audit`: see cooperbench.generation.pipeline.audit."""

import sys

from cooperbench.generation.pipeline.audit import STAGE, run
from cooperbench.generation.pipeline.common import main

main(STAGE, run, *sys.argv[1:])
