"""The process environment, prepared once by an entry point as it starts (the CLI, a DVC stage,
the Python API's functions), before any thread: library code below never changes it.

mini-swe-agent and litellm read some settings only from the environment, before they are
imported: no start-up banner, the price list read from the installed package (never fetched).
Provider keys may sit in a git-ignored .env (the environment wins over it), and an empty key is a
missing key, not one to send. A model call's retries are passed to litellm (agent/models.py)."""

from __future__ import annotations

import os
from pathlib import Path

from cooperbench.generation.util.redact import is_secret

LIBRARY_SETTINGS = {"MSWEA_SILENT_STARTUP": "1", "LITELLM_LOCAL_MODEL_COST_MAP": "True"}


def prepare_environment(dotenv_file: Path = Path(".env")) -> None:
    for name, value in LIBRARY_SETTINGS.items():
        os.environ.setdefault(name, value)
    if dotenv_file.is_file():
        import dotenv

        dotenv.load_dotenv(dotenv_file, override=False)
    for name in [k for k, v in os.environ.items() if is_secret(k) and not v.strip()]:
        del os.environ[name]
