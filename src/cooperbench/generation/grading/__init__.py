"""Grading: test runs in the runner contract, their reports, the verdict and the dataset self-check."""
