"""DVC stage `prompt`: see cooperbench.generation.pipeline.prompt."""

from cooperbench.generation.pipeline.common import main
from cooperbench.generation.pipeline.prompt import run

main(run)
