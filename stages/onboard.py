"""DVC stage `onboard`: see cooperbench.generation.pipeline.onboard."""

from cooperbench.generation.pipeline.common import main
from cooperbench.generation.pipeline.onboard import run

main(run)
