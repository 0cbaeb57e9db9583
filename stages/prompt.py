"""DVC stage `prompt@<task>`: see cooperbench.generation.pipeline.prompt."""

import sys

from cooperbench.generation.pipeline.common import main
from cooperbench.generation.pipeline.prompt import run

main(run, sys.argv[1])
