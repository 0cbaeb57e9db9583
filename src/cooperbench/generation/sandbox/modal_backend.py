"""The modal backend: `modal.Sandbox`es from the task's environment image, for fan-out past one
machine (hundreds of attempts at a time).

The environment image is built once per task plan and workspace, on Modal: the task's published
image, or (as on docker) the Dockerfile's base with the repository at the base commit uploaded
and the Dockerfile's steps replayed; the runner's installs recorded by a warm-up run
(environment.py) in a sandbox with the network on, then `snapshot_filesystem()`; its image id is
kept in the local cache (`modal-images/<key>`), so later runs and other sandboxes start from it.
Sandboxes block all network unless the task allows it, carry CPU and memory limits, stop by
themselves after SANDBOX_LIFETIME, and are tagged with their owner so that the next start
terminates those of a killed process. Credentials come from Modal's own configuration
(`modal token new`); nothing of the caller's environment enters a sandbox.
"""

from __future__ import annotations

import hashlib
import math
import os
import socket
import threading
import time
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Iterator

from cooperbench.generation.core import contract
from cooperbench.generation.core.cache import cache_root
from cooperbench.generation.core.contract import CommandResult
from cooperbench.generation.errors import GenerationError, InfrastructureError
from cooperbench.generation.sandbox.base import OUTPUT_LIMIT, READ_LIMIT, BoundedBuffer, Sandbox, track
from cooperbench.generation.tasks import environment
from cooperbench.generation.tasks.task import Task
from cooperbench.generation.util.owners import pid_alive
from cooperbench.generation.util.progress import say

APP_NAME = "cooperbench-generation"
SANDBOX_LIFETIME = 2 * 60 * 60  # seconds: the longest an agent attempt plus validation may take
LIMITS = {"cpu": (2.0, 2.0), "memory": (4096, 4096)}  # (request, limit): a limit, not only a request
ARGUMENT_LIMIT = 32 * 1024  # bytes of a command passed as an argument; longer ones go through a file (the SDK caps 64 KiB)
COMMAND_FILE = "/tmp/.cooperbench-command.sh"
READ_TIMEOUT = 60  # seconds to read one file back
TAGS = {"cooperbench": "sandbox"}
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def modal_module():
    try:
        import modal
    except ImportError:
        raise GenerationError("the modal backend needs the modal SDK: pip install modal") from None
    return modal


def owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


_reaped: set[str] = set()


def reap(modal, app) -> None:
    """Terminate sandboxes of ours whose owner process on this host is gone (once per process)."""
    if app.app_id in _reaped:
        return
    _reaped.add(app.app_id)
    host = socket.gethostname()
    for sandbox in modal.Sandbox.list(app_id=app.app_id, tags=TAGS):
        name, _, pid = sandbox.get_tags().get("owner", "").rpartition(":")
        if name == host and pid.isdigit() and not pid_alive(int(pid)):
            sandbox.terminate()


def workspace(modal) -> str:
    """Who the credentials are (a digest of the token id) and which Modal environment: an image
    id built under one is unknown under another, so the local record of built images is kept
    apart per workspace."""
    config = modal.config.config
    token = os.environ.get("MODAL_TOKEN_ID") or config.get("token_id") or ""
    where = os.environ.get("MODAL_ENVIRONMENT") or config.get("environment") or ""
    return hashlib.sha256(f"{token}\0{where}".encode()).hexdigest()[:16]


def image_record(modal, task: Task) -> Path:
    """Where this machine keeps the id of the task's environment image built in this workspace."""
    return cache_root() / "modal-images" / environment.plan_for(task).key("modal", (task.image, workspace(modal)))


def env_image(modal, app, task: Task, git_dir: Path | None):
    """The task's environment image on Modal, built now if this workspace has not built it."""
    record = image_record(modal, task)
    if record.is_file():
        return modal.Image.from_id(record.read_text().strip())
    plan = environment.plan_for(task)
    with environment.build_lock(f"modal-{record.name}"):
        if record.is_file():
            return modal.Image.from_id(record.read_text().strip())
        base, published = base_image(modal, app, task, plan, git_dir)
        say(f"[env {task.name}] building the Modal environment over "
            f"{task.image if published else (plan.base_image or 'Debian with Python 3.11')} (once)")
        builder = ModalSandbox(task, image=base, building=True)
        try:
            builder.put_support(task)
            built = replace(plan, steps=()) if published else plan  # a published image ran its Dockerfile already
            environment.build(builder, built, runs_system_steps=True, say=lambda line: say(f"[env {task.name}] {line}"))
            result = builder.run(environment.finish_command(), timeout=600)
            if not result.ok:
                raise environment.EnvironmentFailure(f"{task.name}: finishing the Modal environment failed: "
                                                     f"{environment.explain_failure(result.stderr, result.exit_code)}")
            image = builder._sandbox.snapshot_filesystem(timeout=600, ttl=None)
        finally:
            builder.close()
        record.parent.mkdir(parents=True, exist_ok=True)
        record.write_text(image.object_id + "\n")
        return image


def base_image(modal, app, task: Task, plan: environment.EnvPlan, git_dir: Path | None) -> tuple[object, bool]:
    """(image, published): the task's published image when Modal can pull it; else, as the docker
    backend does, the Dockerfile's base (Debian with Python 3.11 and git where that base is the
    offline one of scripts/docker-setup.sh, which exists only on this machine's daemon) with the
    repository at the base commit uploaded into it, the plan's steps to be replayed over it."""
    published = modal.Image.from_registry(task.image).entrypoint([])
    try:
        published.build(app)
        return published, True
    except modal.exception.Error as exc:
        why_not = f"{type(exc).__name__}: {str(exc).splitlines()[0][:120] if str(exc) else ''}"
    if git_dir is None:
        raise GenerationError(f"{task.name}: Modal cannot pull {task.image} ({why_not}), and building over the "
                              f"Dockerfile's base needs the task's repository (--repo)")
    from cooperbench.generation.sandbox.docker_backend import OFFLINE_BASE
    from cooperbench.generation.sandbox.local_backend import checkout_template

    if plan.base_image in (None, OFFLINE_BASE):
        base = modal.Image.debian_slim(python_version="3.11").apt_install("git", "ca-certificates")
    else:
        base = modal.Image.from_registry(plan.base_image).entrypoint([])
    try:
        base.build(app)
    except modal.exception.Error as exc:
        raise environment.EnvironmentFailure(f"{task.name}: Modal cannot pull {task.image} ({why_not}) nor build the "
                                             f"Dockerfile's base {plan.base_image} ({type(exc).__name__}: {exc})") from None
    return base.add_local_dir(checkout_template(task, git_dir), contract.REPO_DIR, copy=True), False


class ModalSandbox(Sandbox):
    backend = "modal"

    def __init__(self, task: Task, git_dir: Path | None = None, *, network: bool = False, image=None, building: bool = False):
        modal = modal_module()
        self.task, self.building, self._sandbox = task, building, None
        try:
            app = modal.App.lookup(APP_NAME, create_if_missing=True)
            reap(modal, app)
            image = image if image is not None else env_image(modal, app, task, git_dir)
            self.env_id = getattr(image, "object_id", None) or task.image
            self._sandbox = modal.Sandbox.create(
                "sleep", "infinity", app=app, image=image, workdir=contract.REPO_DIR if not building else "/",
                timeout=SANDBOX_LIFETIME, block_network=not (network or building),
                tags={**TAGS, "owner": owner()}, **LIMITS,
            )
        except modal.exception.AuthError as exc:
            raise GenerationError(f"Modal refused the credentials ({exc}); run `modal token new`") from None
        except modal.exception.NotFoundError as exc:
            if building or not image_record(modal, task).exists():
                raise InfrastructureError(f"Modal could not start a sandbox for {task.name}: {exc}") from None
            image_record(modal, task).unlink(missing_ok=True)  # the image is gone from this workspace: build it again
            raise InfrastructureError(f"Modal no longer has {task.name}'s environment image ({exc}); "
                                      f"its record is dropped and the next try builds it again") from None
        except modal.exception.Error as exc:
            raise InfrastructureError(f"Modal could not start a sandbox for {task.name}: {exc}") from None
        track(self)
        self.env = environment.base_env(SYSTEM_PATH, contract.BUILD_HOME if building else contract.RUN_HOME)
        if not building:  # docker's runs have a HOME too
            self.run(f"mkdir -p {contract.RUN_HOME}", timeout=60, cwd="/")

    def put_support(self, task: Task) -> None:
        files = {f"{contract.SUPPORT_DIR}/{name}": (data, mode) for name, (data, mode) in environment.support_files().items()}
        files[contract.RUNNER_PATH] = ((task.runner or "").encode(), 0o755)
        for path, (data, mode) in files.items():
            self.write_file(path, data)
            self.run(f"chmod {mode:o} {path}", timeout=60, cwd="/")
        self.run(f"mkdir -p {contract.STATE_DIR} {contract.PATCHES_DIR} {contract.REPORTS_DIR} /workspace/home",
                 timeout=60, cwd="/")

    def run(self, command: str, *, timeout: float, cwd: str | None = None, env: dict[str, str] | None = None) -> CommandResult:
        """The command in bash; a timeout is the SDK's own signal (wait() gives -1 when the exec
        passed its deadline, and the streams end). A failure of Modal's after the start (the
        sandbox's lifetime reached, the connection lost) is an InfrastructureError: retried."""
        if self._sandbox is None:
            raise GenerationError("the sandbox is closed")
        if len(command.encode()) > ARGUMENT_LIMIT:
            self.write_file(COMMAND_FILE, command.encode())
            command = f"bash {COMMAND_FILE}"
        started = time.monotonic()
        out, err = BoundedBuffer(OUTPUT_LIMIT), BoundedBuffer(OUTPUT_LIMIT)
        with self._modal_errors("running a command"):
            process = self._sandbox.exec("bash", "-c", command, workdir=cwd or contract.REPO_DIR,
                                         timeout=max(1, math.ceil(timeout)), env={**self.env, **(env or {})}, text=False)
            reader = threading.Thread(target=lambda: [err.add(chunk) for chunk in process.stderr], daemon=True)
            reader.start()  # both streams at once: a command that fills one never waits on the other
            for chunk in process.stdout:
                out.add(chunk)
            reader.join()
            exit_code = process.wait()
        return CommandResult(exit_code=exit_code, stdout=out.text(), stderr=err.text(), timed_out=exit_code == -1,
                             duration=time.monotonic() - started, truncated=out.cut or err.cut)

    @contextmanager
    def _modal_errors(self, doing: str) -> Iterator[None]:
        modal = modal_module()
        try:
            yield
        except modal.exception.Error as exc:
            raise InfrastructureError(f"Modal failed {doing} in a sandbox of {self.task.name}: "
                                      f"{type(exc).__name__}: {exc}") from None

    def _absolute(self, path: str) -> str:
        return path if path.startswith("/") else f"{contract.REPO_DIR}/{path}"

    def write_file(self, path: str, data: bytes) -> None:
        target = self._absolute(path)
        with self._modal_errors("writing a file"):
            self._sandbox.filesystem.make_directory(target.rsplit("/", 1)[0] or "/")
            self._sandbox.filesystem.write_bytes(data, target)

    def read_file(self, path: str, limit: int = READ_LIMIT) -> bytes:
        """Only a regular file, and only its first `limit` bytes (`head -c` in the sandbox)."""
        modal = modal_module()
        target = self._absolute(path)
        with self._modal_errors("reading a file"):
            try:
                info = self._sandbox.filesystem.stat(target)
            except (modal.exception.NotFoundError, modal.exception.SandboxFilesystemError):
                raise FileNotFoundError(path) from None
            if info.type.value != "file":
                raise FileNotFoundError(path)
            process = self._sandbox.exec("head", "-c", str(limit), target, text=False, timeout=READ_TIMEOUT)
            data = b"".join(process.stdout)
            process.wait()
        return data[:limit]

    def read_dir(self, path: str, limit: int = READ_LIMIT) -> dict[str, bytes]:
        modal = modal_module()
        with self._modal_errors("listing a folder"):
            try:
                entries = self._sandbox.filesystem.list_files(self._absolute(path))
            except (modal.exception.NotFoundError, modal.exception.SandboxFilesystemError):
                return {}
        found, budget = {}, limit
        for entry in sorted(entries, key=lambda e: e.name):
            if budget <= 0:
                break
            if entry.type.value == "file":
                found[entry.name] = self.read_file(f"{self._absolute(path)}/{entry.name}", budget)
                budget -= len(found[entry.name])
        return found

    def versions(self) -> dict[str, str]:
        return {"modal": modal_module().__version__, "image": str(self.env_id)}

    def close(self) -> None:
        sandbox, self._sandbox = self._sandbox, None
        track(self, alive=False)
        if sandbox is not None:
            try:
                sandbox.terminate()
            except Exception:  # already stopped: nothing to clean
                pass


def smoke(task: Task, git_dir: Path | None) -> dict:
    """A user's first contact with Modal: credentials accepted, the task's environment image
    found or built, one sandbox started, one command run in it (the repository at the base
    commit?), each step timed."""
    started = time.monotonic()
    with ModalSandbox(task, git_dir) as box:
        opened = time.monotonic()
        result = box.run("git rev-parse HEAD && python --version", timeout=120)
        ran = time.monotonic()
    lines = result.stdout.split()
    return {"image": str(box.env_id), "sandbox_seconds": round(opened - started, 1), "command_seconds": round(ran - opened, 1),
            "at_base_commit": bool(lines) and lines[0] == task.base_commit, "python": " ".join(lines[1:]),
            "ok": result.ok and bool(lines) and lines[0] == task.base_commit}
