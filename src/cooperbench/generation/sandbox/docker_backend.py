"""The docker backend: one container per sandbox, from the task's environment image.

The environment image (`cooperbench-env/<repo>:task<N>-<key>`) is built once per task over a base:
the task's published image (`akhatua/cooperbench-<repo>:task<N>`) when the daemon has it or can
pull it; else the Dockerfile's own base (or, when that cannot be pulled either, the offline base
image of scripts/docker-setup.sh) with the repository copied in at the base commit and the
Dockerfile's steps replayed. Either way the runner's installs are then recorded by a warm-up run
(environment.py) and the container committed. Sandboxes run with no network, memory, pid and CPU
limits, an init, as uid 1000, and nothing of the caller's environment; each is labelled with its
owner, so containers of a killed process are removed when the next sandbox starts.
"""

from __future__ import annotations

import io
import math
import os
import posixpath
import socket
import tarfile
import time
from dataclasses import replace
from pathlib import Path, PurePosixPath

from cooperbench.generation.core import contract
from cooperbench.generation.core.contract import CommandResult
from cooperbench.generation.errors import GenerationError, InfrastructureError
from cooperbench.generation.sandbox.base import (
    OUTPUT_LIMIT,
    READ_LIMIT,
    BoundedBuffer,
    Sandbox,
    network_env,
    stopping,
    track,
)
from cooperbench.generation.sandbox.limits import BUILD_MEMORY, SANDBOX_MEMORY, GiB, Limits
from cooperbench.generation.tasks import environment
from cooperbench.generation.tasks.task import Task
from cooperbench.generation.util.owners import pid_alive
from cooperbench.generation.util.progress import say

LABEL = "cooperbench"
OWNER_LABEL = "cooperbench.owner"
KILLED = 137  # 128 + SIGKILL: what `timeout -s KILL` returns
OFFLINE_BASE = os.environ.get("COOPERBENCH_BASE_IMAGE", "cooperbench-base:bookworm")
SANDBOX_USER = "1000:1000"
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


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
    reap(handle)
    return handle


def owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def reap(docker_client) -> None:
    """Remove sandbox containers whose owner process on this host is gone (killed, say).

    Reads the plain listing (no inspect per container), so a container another process removes
    meanwhile is simply skipped: concurrent sandboxes never trip over each other's cleanup.
    """
    import docker.errors

    host = socket.gethostname()
    for entry in docker_client.api.containers(all=True, filters={"label": LABEL}):
        who = (entry.get("Labels") or {}).get(OWNER_LABEL, "")
        name, _, pid = who.rpartition(":")
        if name == host and pid.isdigit() and not pid_alive(int(pid)):
            try:
                docker_client.api.remove_container(entry["Id"], force=True)
            except docker.errors.APIError:  # removed meanwhile, or its removal is under way
                pass


def have_image(docker_client, name: str) -> tuple[bool, str]:
    """(present, why not): present, pulled, or the pull's error in a few words."""
    import docker.errors

    try:
        docker_client.images.get(name)
        return True, ""
    except docker.errors.ImageNotFound:
        pass
    repository, _, tag = name.partition(":")
    try:
        docker_client.images.pull(repository, tag=tag or "latest")
        return True, ""
    except docker.errors.APIError as exc:
        return False, str(exc.explanation or exc).splitlines()[0][:120]


def ensure_env_image(docker_client, task: Task, git_dir: Path | None) -> str:
    """The task's environment image, built now if missing (see the module's docstring)."""
    import docker.errors

    plan = environment.plan_for(task)
    published, why_not_published = have_image(docker_client, task.image)
    base, stand_in = task.image, None
    if not published:
        wanted = plan.base_image or OFFLINE_BASE
        found, why_not_base = have_image(docker_client, wanted)
        if not found and wanted != OFFLINE_BASE:
            found, _ = have_image(docker_client, OFFLINE_BASE)
            if found:  # say so if a step then fails: the step was written for the base it lacks
                stand_in = f"the Dockerfile's base {wanted} cannot be had here ({why_not_base}), so it was built over {OFFLINE_BASE}"
            wanted = OFFLINE_BASE if found else wanted
        if not found:
            raise environment.EnvironmentFailure(
                f"{task.name}: no image: the published {task.image} cannot be had ({why_not_published}), nor the "
                f"Dockerfile's base {plan.base_image or '(none)'} ({why_not_base}); build the offline base with "
                f"scripts/docker-setup.sh"
            )
        base = wanted
    base_id = docker_client.images.get(base).id
    key = plan.key("docker", (base_id, published))
    tag = f"cooperbench-env/{task.repo_name.lower()}:task{task.task_id}-{key}"
    with environment.build_lock(f"docker-{key}"):
        try:
            docker_client.images.get(tag)
        except docker.errors.ImageNotFound:
            try:
                build_env_image(docker_client, task, git_dir, base, published, plan, tag)
            except environment.EnvironmentFailure as exc:
                if stand_in is None:
                    raise
                raise environment.EnvironmentFailure(f"{task.name}: {stand_in}, where "
                                                     f"{str(exc).removeprefix(f'{task.name}: ')}") from None
    return tag


def build_env_image(docker_client, task: Task, git_dir: Path | None, base: str, published: bool,
                    plan: environment.EnvPlan, tag: str) -> None:
    say(f"[env {task.name}] building the docker environment over {base} (once; image {tag})")
    builder = DockerSandbox(task, image=base, building=True)
    try:
        builder.put_support(task)
        if not published:
            if git_dir is None:
                raise GenerationError(f"{task.name}: building over {base} needs the task's repository (--repo)")
            from cooperbench.generation.sandbox.local_backend import checkout_template

            builder.put_tree(checkout_template(task, git_dir), contract.REPO_DIR)
        builder._checked(f"mkdir -p {contract.STATE_DIR} {contract.PATCHES_DIR} {contract.REPORTS_DIR} /tmp/home")
        built = replace(plan, steps=()) if published else plan  # a published image ran its Dockerfile already
        environment.build(builder, built, runs_system_steps=True, say=lambda line: say(f"[env {task.name}] {line}"))
        result = builder.run(environment.finish_command(SANDBOX_USER), timeout=600)
        if not result.ok:
            raise environment.EnvironmentFailure(f"{task.name}: finishing the environment image failed: "
                                                 f"{environment.explain_failure(result.stderr, result.exit_code)}")
        repository, _, version = tag.partition(":")
        builder.container.commit(repository=repository, tag=version,
                                 changes=['ENTRYPOINT []', 'CMD ["sleep", "infinity"]', f"WORKDIR {contract.REPO_DIR}"])
    finally:
        builder.close()


def image_id(docker_client, image: str) -> str:
    return docker_client.images.get(image).id.removeprefix("sha256:")[:16]


class DockerSandbox(Sandbox):
    backend = "docker"

    def __init__(self, task: Task, git_dir: Path | None = None, *, network: bool = False, image: str | None = None,
                 building: bool = False, limits: Limits = Limits()):
        limits = replace(limits, memory=BUILD_MEMORY) if building else limits
        self.task, self.limits, self.building = task, limits, building
        self.container, self._reserved = None, 0
        self.client = client()
        self.image = image or ensure_env_image(self.client, task, git_dir)
        self.env_id = image_id(self.client, self.image)
        self._reserved = SANDBOX_MEMORY.reserve(limits.memory, stopping)  # after any build: builders never wait on it
        try:
            self.container = self._start(network or building, building)
        except BaseException:
            self.close()
            raise
        track(self)
        image_path = (self.client.images.get(self.image).attrs.get("Config", {}).get("Env") or [])
        path = next((e.split("=", 1)[1] for e in image_path if e.startswith("PATH=")), SYSTEM_PATH)
        home = contract.BUILD_HOME if building else contract.RUN_HOME
        self.env = {**environment.base_env(path, home), **({**network_env(), **environment.build_env()} if building else {})}
        if not building:
            self._checked("mkdir -p /tmp/home")

    def _start(self, network: bool, building: bool):
        import docker.errors

        try:
            return self.client.containers.run(
                self.image, ["sleep", "infinity"], entrypoint=[], detach=True, init=True,
                network_mode="host" if network else "none",
                labels={LABEL: "sandbox", OWNER_LABEL: owner()},
                mem_limit=self.limits.memory, pids_limit=self.limits.pids, nano_cpus=2_000_000_000,
                tmpfs={"/tmp": f"size={2 * GiB},mode=1777"} if not building else None,
                volumes={str(environment.package_cache(self.task)): {"bind": contract.PACKAGE_CACHE_DIR, "mode": "rw"}}
                if building else None,
            )
        except docker.errors.APIError as exc:
            raise InfrastructureError(f"{self.image}: the container would not start: {exc.explanation or exc}") from None

    def _checked(self, command: str) -> None:
        result = self.run(command, timeout=60, cwd="/")
        if not result.ok:
            raise GenerationError(f"{self.image}: `{command}` failed in the container: {result.stderr.strip()[:200]}")

    def put_support(self, task: Task) -> None:
        entries = {f"{contract.SUPPORT_DIR}/{name}": (data, mode) for name, (data, mode) in environment.support_files().items()}
        entries[contract.RUNNER_PATH] = ((task.runner or "").encode(), 0o755)
        entries["/usr/local/bin/runner.sh"] = entries[contract.RUNNER_PATH]  # where task images keep it
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as archive:
            for name, (data, mode) in entries.items():
                info = tarfile.TarInfo(name.lstrip("/"))
                info.size, info.mode = len(data), mode
                archive.addfile(info, io.BytesIO(data))
        if not self.container.put_archive("/", buffer.getvalue()):
            raise GenerationError(f"{self.image}: could not copy the support files into the container")

    def put_tree(self, folder: Path, target: str) -> None:
        """Copy a host folder (the repository) into the container at `target`."""
        self._checked(f"mkdir -p {target}")
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as archive:
            archive.add(str(folder), arcname=".")
        if not self.container.put_archive(target, buffer.getvalue()):
            raise GenerationError(f"{folder}: could not copy into the container")

    def run(self, command: str, *, timeout: float, cwd: str | None = None, env: dict[str, str] | None = None) -> CommandResult:
        """`timeout -s KILL` inside the container bounds the command (an exec has no time limit of
        its own); the output is capped while it streams."""
        if self.container is None:
            raise GenerationError("the sandbox is closed")
        limit = max(1, math.ceil(timeout))
        api = self.client.api
        started = time.monotonic()
        exec_id = api.exec_create(
            self.container.id, ["timeout", "-s", "KILL", str(limit), "bash", "-c", command],
            workdir=cwd or contract.REPO_DIR, environment={**self.env, **(env or {})},
            user="root" if self.building else SANDBOX_USER,
        )["Id"]
        out, err = BoundedBuffer(OUTPUT_LIMIT), BoundedBuffer(OUTPUT_LIMIT)
        for stdout, stderr in api.exec_start(exec_id, stream=True, demux=True):
            if stdout:
                out.add(stdout)
            if stderr:
                err.add(stderr)
        exit_code = api.exec_inspect(exec_id).get("ExitCode")
        duration = time.monotonic() - started
        if not self.building:  # what the command left running dies with it, as in a local jail
            api.exec_start(api.exec_create(self.container.id, ["sh", "-c", "kill -9 -1 2>/dev/null; true"],
                                           user=SANDBOX_USER)["Id"])
        state = api.inspect_container(self.container.id).get("State", {})
        oom = bool(state.get("OOMKilled"))
        return CommandResult(
            exit_code=exit_code if exit_code is not None else -1, stdout=out.text(), stderr=err.text(),
            timed_out=exit_code == KILLED and duration >= limit - 0.5 and not oom, duration=duration,
            limit=f"memory limit of {self.limits.memory // 2**20} MiB reached" if oom else self._disk_limit(),
            truncated=out.cut or err.cut,
        )

    def _disk_limit(self) -> str | None:
        if self.building:
            return None
        listed = self.client.api.containers(all=True, size=True, filters={"id": self.container.id})
        size = (listed[0].get("SizeRw") or 0) if listed else 0
        return f"disk limit of {self.limits.disk // GiB} GiB passed" if size > self.limits.disk else None

    def _absolute(self, path: str) -> PurePosixPath:
        return PurePosixPath(path) if path.startswith("/") else PurePosixPath(contract.REPO_DIR) / path

    def write_file(self, path: str, data: bytes) -> None:
        target = self._absolute(path)
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as archive:
            info = tarfile.TarInfo(target.name)
            info.size, info.mode = len(data), 0o644
            info.uid = info.gid = 0 if self.building else 1000
            archive.addfile(info, io.BytesIO(data))
        self._checked(f"mkdir -p {target.parent}")
        if not self.container.put_archive(str(target.parent), buffer.getvalue()):
            raise GenerationError(f"{path}: could not write into the container")

    def _output(self, argv: list[str], limit: int) -> tuple[int, bytes]:
        """An exec's exit code and its stdout, read up to `limit` bytes, as the sandbox's user
        (root only while building): a read sees no more than the agent could."""
        exec_id = self.client.api.exec_create(self.container.id, argv, user="root" if self.building else SANDBOX_USER)["Id"]
        data = bytearray()
        for chunk in self.client.api.exec_start(exec_id, stream=True):
            if len(data) < limit:
                data += chunk[: limit - len(data)]
        return self.client.api.exec_inspect(exec_id).get("ExitCode") or 0, bytes(data)

    def read_file(self, path: str, limit: int = READ_LIMIT) -> bytes:
        """Read in the container (`head -c`), so tmpfs mounts count and nothing is read past
        `limit`; only a regular file, and only where its path leads with no symlink on the way
        (not the file, nor a folder above it)."""
        target = posixpath.normpath(str(self._absolute(path)))
        code, data = self._output(["sh", "-c", '[ "$(realpath -e -- "$1")" = "$1" ] && test -f "$1" || exit 3; head -c "$2" "$1"',
                                   "sh", target, str(limit)], limit)
        if code != 0:
            raise FileNotFoundError(path)
        return data

    def read_dir(self, path: str, limit: int = READ_LIMIT) -> dict[str, bytes]:
        code, listing = self._output(["find", str(self._absolute(path)), "-mindepth", "1", "-maxdepth", "1",
                                      "-type", "f", "-printf", "%f\\0"], 1024 * 1024)
        found, budget = {}, limit
        for name in sorted(n for n in listing.decode("utf-8", "replace").split("\0") if n) if code == 0 else []:
            if budget <= 0:
                break
            try:
                found[name] = self.read_file(f"{self._absolute(path)}/{name}", budget)
            except FileNotFoundError:
                continue
            budget -= len(found[name])
        return found

    @classmethod
    def environment_id(cls, task: Task, git_dir: Path | None) -> str:
        handle = client()
        return image_id(handle, ensure_env_image(handle, task, git_dir))

    def versions(self) -> dict[str, str]:
        return {"docker": self.client.version().get("Version", "?"), "image": self.image}

    def close(self) -> None:
        container, self.container = self.container, None
        reserved, self._reserved = self._reserved, 0
        SANDBOX_MEMORY.release(reserved)
        track(self, alive=False)
        if container is not None:
            try:
                container.remove(force=True)
            except Exception:  # already gone: nothing left to clean
                pass
