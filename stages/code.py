"""DVC stage `code`: see cooperbench.generation.pipeline.code."""

from cooperbench.generation.pipeline.code import STAGE, run
from cooperbench.generation.pipeline.common import main

main(STAGE, run)
