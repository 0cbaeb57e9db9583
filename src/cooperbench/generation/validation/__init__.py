"""Verdicts: on a candidate feature (candidate.py) and on the dataset's own features (selfcheck.py)."""
