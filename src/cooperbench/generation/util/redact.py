"""Credentials never reach what the pipeline writes: every known key value is replaced.

A value is "known" when it sits in this process's environment (or a loaded .env) under a name
that looks like a credential. Every file the pipeline writes passes through `redact`
(atomic.write_text), so a key the model echoed cannot reach a patch, a trajectory, a verdict or
the DVC cache.
"""

from __future__ import annotations

import fnmatch
import json
import os

SECRET_PATTERNS = (
    "*_API_KEY", "*_APIKEY", "*_KEY", "*_TOKEN", "*SECRET*", "*PASSWORD*", "*PASSWD*", "*_CREDENTIALS", "*_KEY_ID",
    "AWS_*", "AZURE_*", "GOOGLE_APPLICATION_CREDENTIALS", "GCP_*", "MODAL_*", "HF_*", "HUGGING*",
    "OPENAI_*", "ANTHROPIC_*", "GEMINI_*", "SSH_AUTH_SOCK", "NETRC", "DOCKER_AUTH_CONFIG", "*_PAT",
)
MIN_SECRET_LENGTH = 8  # shorter values would redact ordinary words
MARK = "[REDACTED]"


def is_secret(name: str) -> bool:
    upper = name.upper()
    return any(fnmatch.fnmatchcase(upper, pattern) for pattern in SECRET_PATTERNS)


def secret_values() -> list[str]:
    """The credential values of this process, longest first (so no value is half-replaced)."""
    values = {v for k, v in os.environ.items() if is_secret(k) and len(v.strip()) >= MIN_SECRET_LENGTH}
    return sorted(values, key=len, reverse=True)


def redact(text: str) -> str:
    for value in secret_values():
        for form in (value, json.dumps(value)[1:-1]):
            text = text.replace(form, MARK)
    return text
