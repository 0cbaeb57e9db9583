"""DVC stage `report`: see cooperbench.generation.pipeline.report."""

from cooperbench.generation.pipeline.common import main
from cooperbench.generation.pipeline.report import run

main(run)
