"""Opening a sandbox of a registered backend (`BACKENDS`): the one place a backend's code is
imported, each inside its own branch, so a process loads only the backend it opens."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from cooperbench.generation.core.contract import BACKENDS
from cooperbench.generation.errors import GenerationError

if TYPE_CHECKING:
    from cooperbench.generation.sandbox.base import Sandbox
    from cooperbench.generation.tasks.task import Task


def sandbox_class(backend: str) -> type[Sandbox]:
    if backend == "local":
        from cooperbench.generation.sandbox.local_backend import LocalSandbox

        return LocalSandbox
    if backend == "docker":
        from cooperbench.generation.sandbox.docker_backend import DockerSandbox

        return DockerSandbox
    if backend == "modal":
        from cooperbench.generation.sandbox.modal_backend import ModalSandbox

        return ModalSandbox
    raise GenerationError(f"unknown backend {backend!r} (choose from {', '.join(BACKENDS)})")


def open_sandbox(task: Task, backend: str, git_dir: Path | None = None, *, network: bool = False) -> Sandbox:
    """A fresh sandbox of `task` at its base commit. `git_dir` is the task's repository (the
    local backend needs it; the others build from it when the image does not hold the base)."""
    return sandbox_class(backend)(task, git_dir, network=network)



def environment_id(task: Task, backend: str, git_dir: Path | None) -> str | None:
    """The id a sandbox of `task` on `backend` reports as `env_id` (its environment built if
    missing), found without starting one; None where only a started sandbox can tell."""
    return sandbox_class(backend).environment_id(task, git_dir)
