"""Patches: reading diffs, splitting the agent's diff, and the git operations on them."""
