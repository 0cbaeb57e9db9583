"""The DVC stages' side of the library: one module per stage kind, each importing only what
that stage runs (so a stage's dvc.yaml deps are exactly its import closure)."""
