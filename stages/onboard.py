"""DVC stage `onboard`: see cooperbench.generation.pipeline.onboard."""

import sys

from cooperbench.generation.pipeline.common import main
from cooperbench.generation.pipeline.onboard import STAGE, run

main(STAGE, run, *sys.argv[1:])
