"""Onboarding: new tasks from a repository's history (mining, environment recipe, grouping, proof)."""
