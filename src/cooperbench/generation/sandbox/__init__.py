"""Sandboxes: one interface (`Sandbox`), three backends (local, docker, modal)."""

from __future__ import annotations

from pathlib import Path

from cooperbench.generation.errors import GenerationError
from cooperbench.generation.sandbox.base import CommandResult, Sandbox
from cooperbench.generation.tasks.task import Task

BACKENDS = ("local", "docker", "modal")


def open_sandbox(task: Task, backend: str, git_dir: Path | None = None, *, network: bool = False) -> Sandbox:
    """A fresh sandbox of `task` at its base commit. `git_dir` is needed by the local backend."""
    if backend == "local":
        from cooperbench.generation.sandbox.local_backend import LocalSandbox

        if git_dir is None:
            raise GenerationError("the local backend needs the task's repository")
        return LocalSandbox(task, git_dir, network=network)
    if backend == "docker":
        from cooperbench.generation.sandbox.docker_backend import DockerSandbox

        return DockerSandbox(task, git_dir, network=network)
    if backend == "modal":
        from cooperbench.generation.sandbox.modal_backend import ModalSandbox

        return ModalSandbox(task, git_dir, network=network)
    raise GenerationError(f"unknown backend {backend!r} (choose from {', '.join(BACKENDS)})")


__all__ = ["BACKENDS", "CommandResult", "Sandbox", "open_sandbox"]
