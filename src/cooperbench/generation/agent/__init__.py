"""The agent: its prompt, its model (litellm or a replayed session) and its loop in a sandbox."""
