"""Conflicts between features: git merges of their source patches."""
