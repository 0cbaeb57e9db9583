"""DVC stage `audit`: see cooperbench.generation.pipeline.audit."""

from cooperbench.generation.pipeline.audit import run
from cooperbench.generation.pipeline.common import main

main(run)
