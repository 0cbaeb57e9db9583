"""The docker backend: one container of the task's image per sandbox, many `exec`s in it.

The image is the task's published one (`akhatua/cooperbench-<repo>:task<N>`) when the daemon has
it or can pull it, else it is built from the task's Dockerfile. Containers run with no network,
memory/pid/cpu limits and an init, and nothing from the caller's environment; the repository is
at /workspace/repo. Closing removes the container (force), which also ends any running exec.
"""

from __future__ import annotations

import io
import math
import tarfile
import time
from pathlib import PurePosixPath

from cooperbench.generation.errors import GenerationError
from cooperbench.generation.sandbox.base import REPO_DIR, CommandResult, Sandbox, cap_output
from cooperbench.generation.task import Task

LABEL = {"cooperbench": "sandbox"}
LIMITS = {"mem_limit": "4g", "pids_limit": 1024, "nano_cpus": 2_000_000_000}
KILLED = 137  # 128 + SIGKILL: what `timeout -s KILL` returns


def client():
    """A Docker SDK client, or a one-line error saying how to get a daemon."""
    try:
        import docker
    except ImportError:
        raise GenerationError("the docker backend needs the docker SDK: pip install docker") from None
    try:
        handle = docker.from_env()
        handle.ping()
    except Exception as exc:  # the SDK raises several kinds for "no daemon"
        raise GenerationError(
            f"no Docker daemon answers ({type(exc).__name__}); start one (see scripts/docker-setup.sh)"
        ) from None
    return handle


def ensure_image(docker_client, task: Task, *, rebuild: bool = False) -> str:
    """The task's image: present, pulled, or built from the task's Dockerfile (`rebuild`: build
    even when present, for an image that no longer matches its task)."""
    import docker.errors

    if not rebuild:
        try:
            docker_client.images.get(task.image)
            return task.image
        except docker.errors.ImageNotFound:
            pass
        repository, tag = task.image.rsplit(":", 1)
        try:
            docker_client.images.pull(repository, tag=tag)
            return task.image
        except docker.errors.APIError:
            pass  # offline, or not published: build it
    dockerfile = task.path / "Dockerfile"
    if not dockerfile.exists():
        raise GenerationError(f"{task.image}: not on this daemon, cannot be pulled, and {dockerfile} does not exist")
    try:
        docker_client.images.build(path=str(task.path), tag=task.image, network_mode="host", rm=True, forcerm=True)
    except docker.errors.BuildError as exc:
        lines = [str(chunk.get("stream") or chunk.get("error") or "").strip() for chunk in exc.build_log]
        last = next((line for line in reversed(lines) if line), str(exc))
        raise GenerationError(f"{dockerfile}: docker build failed: {last}") from None
    return task.image


class DockerSandbox(Sandbox):
    backend = "docker"

    def __init__(self, task: Task, *, network: bool = False):
        self.task = task
        self.network = network
        self.container = None
        self.client = client()
        self.image = ensure_image(self.client, task)
        self._start()
        if self._head() != task.base_commit and (task.path / "Dockerfile").exists():
            self.close()  # an image built from an older version of the task: build it again
            self.image = ensure_image(self.client, task, rebuild=True)
            self._start()
        head = self._head()
        if head != task.base_commit:
            self.close()
            raise GenerationError(f"{self.image}: /workspace/repo is at {head[:12] or 'no commit'}, "
                                  f"not BASE_COMMIT {task.base_commit[:12]} of {task.name}")

    def _start(self) -> None:
        self.container = self.client.containers.run(
            self.image,
            ["sleep", "infinity"],
            entrypoint=[],
            detach=True,
            init=True,
            network_mode="host" if self.network else "none",
            working_dir=REPO_DIR,
            labels=LABEL,
            **LIMITS,
        )

    def _head(self) -> str:
        result = self.run("git rev-parse HEAD", timeout=30)
        return result.stdout.strip() if result.ok else ""

    def run(self, command: str, *, timeout: float, cwd: str | None = None) -> CommandResult:
        """`timeout -s KILL` inside the container bounds the command and its process group
        (`exec_run` itself has no time limit)."""
        limit = max(1, math.ceil(timeout))
        started = time.monotonic()
        exit_code, (stdout, stderr) = self.container.exec_run(
            ["timeout", "-s", "KILL", str(limit), "bash", "-c", command],
            workdir=cwd or REPO_DIR,
            demux=True,
            environment={},
        )
        duration = time.monotonic() - started
        return CommandResult(
            exit_code=exit_code,
            stdout=cap_output((stdout or b"").decode("utf-8", "replace")),
            stderr=cap_output((stderr or b"").decode("utf-8", "replace")),
            timed_out=exit_code == KILLED and duration >= limit - 0.5,
            duration=duration,
        )

    def _absolute(self, path: str) -> PurePosixPath:
        return PurePosixPath(path) if path.startswith("/") else PurePosixPath(REPO_DIR) / path

    def write_file(self, path: str, data: bytes) -> None:
        target = self._absolute(path)
        self.container.exec_run(["mkdir", "-p", str(target.parent)])
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as archive:
            info = tarfile.TarInfo(target.name)
            info.size = len(data)
            info.mode = 0o644
            archive.addfile(info, io.BytesIO(data))
        if not self.container.put_archive(str(target.parent), buffer.getvalue()):
            raise GenerationError(f"{path}: could not write into the container")

    def read_file(self, path: str) -> bytes:
        import docker.errors

        try:
            stream, _ = self.container.get_archive(str(self._absolute(path)))
        except docker.errors.NotFound:
            raise FileNotFoundError(path) from None
        with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as archive:
            member = archive.next()
            handle = archive.extractfile(member) if member else None
            if handle is None:
                raise FileNotFoundError(path)
            return handle.read()

    def versions(self) -> dict[str, str]:
        return {"docker": self.client.version().get("Version", "?"), "image": self.client.images.get(self.image).id}

    def close(self) -> None:
        container, self.container = self.container, None
        if container is not None:
            try:
                container.remove(force=True)
            except Exception:  # already gone: nothing left to clean
                pass
