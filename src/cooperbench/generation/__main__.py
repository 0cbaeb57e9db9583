"""`python -m cooperbench.generation` runs the CLI."""

from cooperbench.generation.cli import main

main()
