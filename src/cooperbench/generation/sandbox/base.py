"""What every sandbox backend offers: a task's repository at its base commit, commands with a
time limit, files in and out, patches applied, and a close that always happens."""

from __future__ import annotations

import fnmatch
import os
import shlex
from abc import ABC, abstractmethod
from dataclasses import dataclass

REPO_DIR = "/workspace/repo"
SCRATCH_DIR = "/tmp"
MAX_OUTPUT_CHARS = 200_000

# Names of environment variables that carry credentials; none may reach a sandboxed command.
SECRET_PATTERNS = (
    "*_API_KEY", "*_APIKEY", "*_TOKEN", "*SECRET*", "*PASSWORD*", "*_CREDENTIALS", "*_KEY_ID",
    "AWS_*", "AZURE_*", "GOOGLE_APPLICATION_CREDENTIALS", "GCP_*", "MODAL_*", "HF_*", "HUGGING*",
    "OPENAI_*", "ANTHROPIC_*", "GEMINI_*", "SSH_AUTH_SOCK", "NETRC", "DOCKER_AUTH_CONFIG",
)


def is_secret(name: str) -> bool:
    upper = name.upper()
    return any(fnmatch.fnmatchcase(upper, pattern) for pattern in SECRET_PATTERNS)


def scrub_env(env: dict[str, str] | None = None) -> dict[str, str]:
    """`env` (default: this process's) without anything that looks like a credential."""
    source = os.environ if env is None else env
    return {k: v for k, v in source.items() if not is_secret(k)}


def cap_output(text: str, limit: int = MAX_OUTPUT_CHARS) -> str:
    """Keep the head and the tail of a long output; the middle is rarely what matters."""
    if len(text) <= limit:
        return text
    half = limit // 2
    return f"{text[:half]}\n[... {len(text) - limit} characters cut ...]\n{text[-half:]}"


@dataclass(frozen=True)
class CommandResult:
    exit_code: int
    stdout: str
    stderr: str
    timed_out: bool
    duration: float

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.timed_out


class Sandbox(ABC):
    """A task's repository at its base commit, at REPO_DIR, where commands run isolated.

    Use as a context manager: leaving the block (normally, on error or on Ctrl-C) closes it and
    removes everything it made.
    """

    backend: str = "?"
    repo_dir: str = REPO_DIR

    @abstractmethod
    def run(self, command: str, *, timeout: float, cwd: str | None = None) -> CommandResult:
        """Run `command` with bash in `cwd` (default: the repository); killed at `timeout` s."""

    @abstractmethod
    def write_file(self, path: str, data: bytes) -> None:
        """Write a file; relative paths are inside the repository."""

    @abstractmethod
    def read_file(self, path: str) -> bytes:
        """Read a file; relative paths are inside the repository."""

    def versions(self) -> dict[str, str]:
        """Versions of the isolation tools, for the verdict's record."""
        return {}

    @abstractmethod
    def close(self) -> None:
        """Stop everything and remove what the sandbox made. Safe to call twice."""

    def apply_patch(self, patch: str, *, timeout: float = 60) -> str | None:
        """Apply a patch as the dataset's runners do (plain, --ignore-whitespace, --3way).

        Returns None on success, else git's first error line.
        """
        if not patch.strip():
            return None
        target = f"{SCRATCH_DIR}/cooperbench-{abs(hash(patch))}.patch"
        self.write_file(target, patch.encode("utf-8", "surrogateescape"))
        quoted = shlex.quote(target)
        error = "git apply failed"
        for flags in ("", "--ignore-whitespace ", "--3way "):
            result = self.run(f"git apply {flags}{quoted}", timeout=timeout)
            if result.ok:
                return None
            error = (result.stderr.strip().splitlines() or [error])[0]
        return error

    def __enter__(self) -> "Sandbox":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
