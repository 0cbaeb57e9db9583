"""What every sandbox backend offers: a task's repository at its base commit, inside the task's
environment, with commands run under a time limit, bounded files in and out, and a close that
always happens.

Everything that comes out of a sandbox was written by code we do not trust (the agent, the
candidate's tests), so every read is bounded: command output is capped while it is read, and a
file is read only if it is a regular file, up to a size.
"""

from __future__ import annotations

import os
import threading
from abc import ABC, abstractmethod
from pathlib import Path
from typing import IO, TYPE_CHECKING

from cooperbench.generation.core.contract import REPO_DIR, CommandResult
from cooperbench.generation.util.redact import is_secret

if TYPE_CHECKING:
    from cooperbench.generation.tasks.task import Task

OUTPUT_LIMIT = 8 * 1024 * 1024  # bytes of stdout (and of stderr) kept per command: head and tail
READ_LIMIT = 16 * 1024 * 1024  # bytes, per file read out of a sandbox

# What an install step (the one thing that runs with the network on) may take from the caller's
# environment: proxies, certificate bundles and package indexes. Nothing else passes.
NETWORK_ENV = (
    "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy", "ALL_PROXY", "all_proxy",
    "SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "NODE_EXTRA_CA_CERTS",
    "GIT_SSL_CAINFO", "PIP_CERT", "PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_FIND_LINKS", "PIP_DEFAULT_TIMEOUT",
    "UV_INDEX_URL", "UV_EXTRA_INDEX_URL", "npm_config_registry", "NPM_CONFIG_REGISTRY", "GOPROXY",
)


def network_env(source: dict[str, str] | None = None) -> dict[str, str]:
    """The allow-listed variables of `source` (default: this process's environment)."""
    source = os.environ if source is None else source
    return {k: source[k] for k in NETWORK_ENV if k in source and not is_secret(k)}


class BoundedBuffer:
    """Keeps the head and the tail of a byte stream of any length, and how much was cut."""

    def __init__(self, limit: int = OUTPUT_LIMIT):
        self.head_limit, self.tail_limit = limit // 4, limit - limit // 4
        self.head, self.tail, self.total = bytearray(), bytearray(), 0

    def add(self, chunk: bytes) -> None:
        self.total += len(chunk)
        room = self.head_limit - len(self.head)
        if room > 0:
            self.head += chunk[:room]
            chunk = chunk[room:]
        if chunk:
            self.tail += chunk
            if len(self.tail) > self.tail_limit:
                del self.tail[: len(self.tail) - self.tail_limit]

    @property
    def cut(self) -> bool:
        return self.total > len(self.head) + len(self.tail)

    def text(self) -> str:
        cut = self.total - len(self.head) - len(self.tail)
        middle = f"\n[... {cut} bytes cut ...]\n".encode() if cut else b""
        return bytes(self.head + middle + self.tail).decode("utf-8", "replace")


def drain(stream: IO[bytes], buffer: BoundedBuffer) -> threading.Thread:
    """Read `stream` to its end into `buffer` in a thread (so a full pipe never blocks the child)."""

    def pump() -> None:
        while chunk := stream.read(65536):
            buffer.add(chunk)

    thread = threading.Thread(target=pump, daemon=True)
    thread.start()
    return thread


def cap_text(text: str, limit: int) -> str:
    """Head and tail of a long text, for what goes to a model or a log."""
    if len(text) <= limit:
        return text
    half = limit // 2
    return f"{text[:half]}\n[... {len(text) - limit} characters cut ...]\n{text[-half:]}"


_live: set["Sandbox"] = set()
_live_lock = threading.Lock()
stopping = threading.Event()  # set on Ctrl-C: no sandbox opens after it


def track(sandbox: "Sandbox", alive: bool = True) -> None:
    """Keep the set of open sandboxes, so an interrupt can close them all at once."""
    with _live_lock:
        (_live.add if alive else _live.discard)(sandbox)
    if alive and stopping.is_set():
        sandbox.close()
        raise KeyboardInterrupt


def close_all() -> None:
    """Close every open sandbox of this process (Ctrl-C), and open no more: the commands running
    in them end, and so does the work waiting for them."""
    stopping.set()
    with _live_lock:
        open_ones = list(_live)
    for sandbox in open_ones:
        sandbox.close()


class Sandbox(ABC):
    """A task's repository at its base commit, at REPO_DIR, in the task's environment.

    Use as a context manager: leaving the block (normally, on error or on Ctrl-C) closes it and
    removes everything it made.
    """

    backend: str = "?"
    repo_dir: str = REPO_DIR
    closed_by: str | None = None  # the limit that closed it for good (the disk, say), in words

    @abstractmethod
    def run(self, command: str, *, timeout: float, cwd: str | None = None, env: dict[str, str] | None = None) -> CommandResult:
        """Run `command` with bash in `cwd` (default: the repository); killed at `timeout` s.
        `env` adds variables to the sandbox's own (never the caller's)."""

    @abstractmethod
    def write_file(self, path: str, data: bytes) -> None:
        """Write a file; relative paths are inside the repository."""

    @abstractmethod
    def read_file(self, path: str, limit: int = READ_LIMIT) -> bytes:
        """A regular file's bytes, at most `limit` of them; FileNotFoundError when there is no
        regular file there (a FIFO, a device or a directory counts as none)."""

    @abstractmethod
    def read_dir(self, path: str, limit: int = READ_LIMIT) -> dict[str, bytes]:
        """The regular files directly in a folder, name -> bytes, `limit` bytes in all."""

    def versions(self) -> dict[str, str]:
        """Versions of the isolation tools, for the verdict's record."""
        return {}

    @classmethod
    def environment_id(cls, task: Task, git_dir: Path | None) -> str | None:
        """The `env_id` a sandbox of `task` would have (its environment built if missing), found
        without starting one; None where only a started sandbox can tell."""
        return None

    @abstractmethod
    def close(self) -> None:
        """Stop everything and remove what the sandbox made. Safe to call twice."""

    def __enter__(self) -> "Sandbox":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
