"""The embedded backend: no daemon, bubblewrap on the host (see jail.py for what a jail sees).

Three things live in the cache (`COOPERBENCH_CACHE`, default ~/.cache/cooperbench):
  checkouts/  the task's repository at its base commit, objects copied (never hard-linked), so
              nothing a sandbox does can reach the user's repository;
  envs/       the task's environment (environment.py), built once per plan: `workspace/` is what
              the sandboxes see at /workspace (the venv, HOME of the build, the install record)
              and `template/` the repository as the build left it (install-time files included);
  sandboxes/  one folder per live sandbox, named by its owner's pid: the template at
              /workspace/repo (an overlay whose writes go to its `layer/` where this machine
              can mount one, else a copy: overlay.py), its /tmp, /patches and report folder.
              Folders (and mounts) of dead owners are removed when the next sandbox starts
              (after a SIGKILL, say).
"""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
import py_compile
import secrets
import shutil
import stat
import subprocess
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

from cooperbench.generation.core import contract
from cooperbench.generation.core.cache import cache_root
from cooperbench.generation.core.contract import CommandResult
from cooperbench.generation.errors import GenerationError
from cooperbench.generation.patches.gitutil import run_git
from cooperbench.generation.sandbox import overlay
from cooperbench.generation.sandbox.base import READ_LIMIT, Sandbox, network_env, stopping, track
from cooperbench.generation.sandbox.jail import Jail, Toolchains, bwrap_path, kill_group, minimal_etc
from cooperbench.generation.sandbox.limits import BUILD_MEMORY, SANDBOX_MEMORY, Cgroup, Limits, disk_usage, reap_cgroups
from cooperbench.generation.tasks import environment
from cooperbench.generation.tasks.task import Task
from cooperbench.generation.util import owners
from cooperbench.generation.util.progress import say

SANDBOX_TMP = "/tmp"


# ---------------------------------------------------------------- the repository at the base commit


def checkout_template(task: Task, git_dir: Path) -> Path:
    """A work tree at the base commit with a `.git` of its own (objects copied from `git_dir`).

    The git folder is copied as it is, so partial and sparse clones keep working without the
    network (their missing blobs stay unneeded), then checked out at the base commit.
    """
    target = cache_root() / "checkouts" / f"{task.repo_name}-task{task.task_id}-{task.base_commit[:12]}"
    with environment.build_lock(f"checkout-{target.name}"):
        if not (target / ".complete").exists():
            _make_checkout(task, git_dir, target)
    return target / "repo"


def _make_checkout(task: Task, git_dir: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".build-{os.getpid()}-", dir=target.parent))
    try:
        repo = scratch / "repo"
        shutil.copytree(git_dir, repo / ".git", symlinks=True)
        dot_git = repo / ".git"
        for name in ("hooks", "worktrees"):  # nothing of the host's to run or to point at
            shutil.rmtree(dot_git / name, ignore_errors=True)
        (dot_git / "index").unlink(missing_ok=True)
        run_git(["config", "core.bare", "false"], dot_git)
        if (dot_git / "objects" / "info" / "alternates").exists():  # objects elsewhere: copy them in
            run_git(["repack", "-a", "-d", "-q"], dot_git)
            (dot_git / "objects" / "info" / "alternates").unlink()
        run_git(["--work-tree", str(repo), "checkout", "--quiet", "--force", "--detach", task.base_commit], dot_git)
        (scratch / ".complete").write_text(task.base_commit + "\n")
        scratch.rename(target)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def copy_tree(source: Path, target: Path) -> None:
    """A full copy (no hard links: the copy shares no inode with the cache)."""
    subprocess.run(["cp", "-a", f"{source}/.", str(target)], check=True, capture_output=True)


# ---------------------------------------------------------------- the environment


def ensure_environment(task: Task, git_dir: Path) -> Path:
    """The task's built environment folder (environment.py), built now if missing."""
    plan = environment.plan_for(task)
    toolchains = Toolchains.find()
    key = plan.key("local", (sys.version, toolchains.path))
    target = cache_root() / "envs" / f"{task.repo_name}-task{task.task_id}-{key}"
    with environment.build_lock(f"local-{key}"):
        if not (target / "env.json").exists():
            build_environment(task, git_dir, plan, toolchains, key, target)
    return target


def build_environment(task: Task, git_dir: Path, plan: environment.EnvPlan, toolchains: Toolchains, key: str,
                      target: Path) -> None:
    template = checkout_template(task, git_dir)
    target.parent.mkdir(parents=True, exist_ok=True)
    owners.reap(target.parent, ".build-")
    scratch = Path(tempfile.mkdtemp(prefix=f".build-{os.getpid()}-", dir=target.parent))
    try:
        workspace = scratch / "workspace"
        for folder in (workspace / "repo", workspace / "home", workspace / ".cooperbench"):
            folder.mkdir(parents=True)
        say(f"[env {task.name}] building the local environment (once; cached in {target.parent})")
        with LocalSandbox(task, template, env_dir=scratch, building=True) as builder:
            steps = [{"step": "venv", "exit_code": _make_venv(builder, task)}]
            steps += environment.build(builder, plan, runs_system_steps=False,
                                       say=lambda line: say(f"[env {task.name}] {line}"))
        _finish_template(template, scratch)
        record = {"key": key, "task": task.name, "base_commit": task.base_commit, "base_image": plan.base_image,
                  "python": sys.version.split()[0], "toolchains": list(toolchains.path), "steps": steps}
        (scratch / "env.json").write_text(json.dumps(record, indent=2) + "\n")
        scratch.rename(target)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _make_venv(builder: "LocalSandbox", task: Task) -> int:
    """The environment's venv: the host Python's, with a current pip first (it understands the
    packages-as-of date the build steps pass it). Made once per host Python, before any step of a
    task runs, and copied into each environment (6.8 s of a build, 0.3 s): its paths are the host
    Python's and VENV_DIR, the same in every environment."""
    python = environment.host_python()
    made = cache_root() / "venvs" / hashlib.sha256(f"{python}\0{sys.version}\0{contract.VENV_DIR}".encode()).hexdigest()[:16]
    venv = builder.env_dir / "workspace" / Path(contract.VENV_DIR).relative_to(contract.WORKSPACE)
    with environment.build_lock(f"venv-{made.name}"):
        if not made.is_dir():
            result = builder.run(f"{python} -m venv {contract.VENV_DIR} && {contract.VENV_DIR}/bin/pip install -q --upgrade pip",
                                 timeout=600, cwd=contract.WORKSPACE)
            if not result.ok:
                raise environment.EnvironmentFailure(f"{task.name}: cannot make a virtualenv: "
                                                     f"{environment.explain_failure(result.stderr, result.exit_code)}")
            made.parent.mkdir(parents=True, exist_ok=True)
            scratch = Path(tempfile.mkdtemp(prefix=f".build-{os.getpid()}-", dir=made.parent))
            try:
                copy_tree(venv, scratch)
                scratch.rename(made)
            finally:
                shutil.rmtree(scratch, ignore_errors=True)  # gone once renamed
            return result.exit_code
        venv.mkdir(parents=True)
        copy_tree(made, venv)
    return 0


def _finish_template(checkout: Path, scratch: Path) -> None:
    """The sandboxes' starting repository: the clean checkout plus the files installs wrote into
    the source tree (kept by the shims), as a task image has them."""
    template = scratch / "template"
    template.mkdir()
    copy_tree(checkout, template)
    overlay = scratch / "workspace" / ".cooperbench" / "overlay"
    if overlay.is_dir():
        copy_tree(overlay, template)


# ---------------------------------------------------------------- the sandbox


class LocalSandbox(Sandbox):
    backend = "local"

    def __init__(self, task: Task, git_dir: Path, *, network: bool = False, env_dir: Path | None = None,
                 building: bool = False, limits: Limits = Limits()):
        """A sandbox of `task` in its environment (built if needed). `building`: the environment
        builder's own sandbox (network on, environment writable, `git_dir` is the checkout to
        start from)."""
        if git_dir is None:
            raise GenerationError("the local backend needs the task's repository")
        bwrap_path()
        limits = replace(limits, memory=BUILD_MEMORY) if building else limits
        self.task, self.closed, self.limits, self.building = task, False, limits, building
        self._running: set[subprocess.Popen] = set()
        self._reserved = 0
        sandboxes = cache_root() / "sandboxes"
        sandboxes.mkdir(parents=True, exist_ok=True)
        reap_sandboxes(sandboxes)
        reap_cgroups()
        self.root = Path(tempfile.mkdtemp(prefix=f"{os.getpid()}-{secrets.token_hex(3)}-", dir=sandboxes))
        self.cgroup: Cgroup | None = None
        self.overlaid = False  # the repository is an overlay of the template (else a copy)
        track(self)
        try:
            self.env_dir = env_dir if building else ensure_environment(task, git_dir)
            self.env_id = self.env_dir.name
            self._reserved = SANDBOX_MEMORY.reserve(limits.memory, stopping)  # after any build: builders never wait on it
            template = git_dir if building else self.env_dir / "template"
            self.dirs = {contract.REPO_DIR: self.root / "repo", SANDBOX_TMP: self.root / "tmp",
                         contract.PATCHES_DIR: self.root / "patches", contract.REPORTS_DIR: self.root / "reports",
                         contract.TASK_DIR: self.root / "task"}
            for folder in self.dirs.values():
                folder.mkdir()
            (self.root / "tmp" / "home").mkdir()
            self.overlaid = not building and overlay.mount(template, self.root / "layer", self.dirs[contract.REPO_DIR])
            if not self.overlaid:
                copy_tree(template, self.dirs[contract.REPO_DIR])
            (self.dirs[contract.TASK_DIR] / "runner.sh").write_text(task.runner or "", encoding="utf-8")
            self.cgroup = Cgroup(limits)
            self.jail = self._jail(network or building, building)
            home = contract.BUILD_HOME if building else contract.RUN_HOME
            self.env = {**environment.base_env(self.jail.path_tail((f"{contract.VENV_DIR}/bin",)), home),
                        # the venv stands for the image's system Python: `uv pip install --system` too
                        "VIRTUAL_ENV": contract.VENV_DIR, "UV_PYTHON": f"{contract.VENV_DIR}/bin/python", **dict(self.jail.toolchains.env),
                        **({**network_env(), **environment.build_env()} if building else {})}
        except BaseException:
            self.close()
            raise

    def _jail(self, network: bool, building: bool) -> Jail:
        support = support_dir()
        workspace = str(self.env_dir / "workspace")
        binds = [(str(self.dirs[contract.REPO_DIR]), contract.REPO_DIR), (str(self.dirs[SANDBOX_TMP]), SANDBOX_TMP),
                 (str(self.dirs[contract.REPORTS_DIR]), contract.REPORTS_DIR)]
        ro_binds = [(str(support), contract.SUPPORT_DIR), (str(self.dirs[contract.TASK_DIR]), contract.TASK_DIR),
                    (str(self.dirs[contract.PATCHES_DIR]), contract.PATCHES_DIR)]
        (binds if building else ro_binds).append((workspace, contract.WORKSPACE))
        if building:
            binds.append((str(environment.package_cache(self.task)), contract.PACKAGE_CACHE_DIR))
            find_links = network_env().get("PIP_FIND_LINKS", "")
            ro_binds += [(path, path) for path in find_links.split() if Path(path).is_dir()]
        return Jail(etc=minimal_etc(cache_root()), binds=binds, ro_binds=ro_binds, network=network,
                    toolchains=Toolchains.find(), limits=self.limits, cgroup=self.cgroup)

    def run(self, command: str, *, timeout: float, cwd: str | None = None, env: dict[str, str] | None = None) -> CommandResult:
        if self.closed:
            raise GenerationError("the sandbox is closed")
        result = self.jail.run(command, cwd or contract.REPO_DIR, timeout, {**self.env, **(env or {})}, self._running,
                               watch=self._disk_passed)
        passed = result.limit if result.limit and result.limit.startswith("disk") else self._disk_passed()
        if passed:
            self.closed = True  # nothing more runs in a sandbox past its disk limit
            self.closed_by = passed
            self._remove()
            return CommandResult(result.exit_code, result.stdout, result.stderr, result.timed_out, result.duration,
                                 limit=passed, truncated=result.truncated)
        return result

    def _disk_passed(self) -> str | None:
        """The disk limit, checked while a command runs (so a writer is stopped near it, not after)."""
        skip = self.dirs[contract.REPO_DIR] if self.overlaid else None  # its writes are in the layer
        if disk_usage(self.root, self.limits.disk, skip) > self.limits.disk:
            return f"disk limit of {self.limits.disk // 2**30} GiB passed"
        return None

    def _host_path(self, path: str, *, writing: bool = False) -> Path:
        """Map a sandbox path to the host: the sandbox's own folders, and (to read, or to write
        while building) the environment's /workspace."""
        pure = Path(posixpath.normpath(path if path.startswith("/") else f"{contract.REPO_DIR}/{path}"))
        places = dict(self.dirs)
        if self.building or not writing:
            places[contract.WORKSPACE] = self.env_dir / "workspace"
        for inside, outside in places.items():
            if pure.is_relative_to(inside):
                host = outside / pure.relative_to(inside)
                real = host.resolve()
                if real.is_relative_to(outside.resolve()):
                    return real
        raise GenerationError(f"{path}: outside the sandbox's folders")

    def write_file(self, path: str, data: bytes) -> None:
        host = self._host_path(path, writing=True)
        host.parent.mkdir(parents=True, exist_ok=True)
        if host.is_symlink() or (host.exists() and not host.is_file()):
            host.unlink() if not host.is_dir() else shutil.rmtree(host)
        host.write_bytes(data)

    def read_file(self, path: str, limit: int = READ_LIMIT) -> bytes:
        return read_regular(self._host_path(path), limit)

    def read_dir(self, path: str, limit: int = READ_LIMIT) -> dict[str, bytes]:
        folder = self._host_path(path)
        found, budget = {}, limit
        for entry in sorted(os.scandir(folder), key=lambda e: e.name) if folder.is_dir() else []:
            if budget <= 0:
                break
            try:
                found[entry.name] = read_regular(Path(entry.path), budget)
            except FileNotFoundError:
                continue
            budget -= len(found[entry.name])
        return found

    @classmethod
    def environment_id(cls, task: Task, git_dir: Path | None) -> str:
        if git_dir is None:
            raise GenerationError("the local backend needs the task's repository")
        return ensure_environment(task, git_dir).name

    def versions(self) -> dict[str, str]:
        proc = subprocess.run([bwrap_path(), "--version"], capture_output=True, text=True)
        return {"bwrap": proc.stdout.strip(), "cgroup_limits": "yes" if self.cgroup and self.cgroup.active else "no",
                "repository": "overlay" if self.overlaid else "copy"}

    def close(self) -> None:
        """Kill what still runs, then remove the sandbox's folders and cgroup."""
        for proc in list(self._running):
            kill_group(proc)
        self.closed = True
        self._remove()
        if self.cgroup is not None:
            self.cgroup.remove()
        reserved, self._reserved = self._reserved, 0
        SANDBOX_MEMORY.release(reserved)
        track(self, alive=False)

    def _remove(self) -> None:
        if self.overlaid:
            overlay.unmount(self.dirs[contract.REPO_DIR])
            self.overlaid = False
        shutil.rmtree(self.root, ignore_errors=True)


def reap_sandboxes(sandboxes: Path) -> None:
    """What sandboxes of dead owners left: their overlay mounts first, then their folders."""
    overlay.reap(sandboxes)
    owners.reap(sandboxes)


def read_regular(path: Path, limit: int) -> bytes:
    """Up to `limit` bytes of a regular file, opened without following a final symlink and
    without blocking (a FIFO or device is no file to us)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        raise FileNotFoundError(str(path)) from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise FileNotFoundError(str(path))
        chunks, left = [], limit
        while left > 0 and (chunk := os.read(fd, min(left, 1 << 20))):
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def support_dir() -> Path:
    """The shims and the pytest plugin as files in the cache, made once per content. The Python
    modules come compiled for this interpreter's version (the venvs of environments are made from
    it): sandboxes run with PYTHONDONTWRITEBYTECODE and mount this folder read-only, so each of
    their Python processes compiled the guard again, 9 ms a process. The .pyc files are checked
    against the source's hash, never trusted by timestamp."""
    target = cache_root() / f"support-{environment.support_digest()}"
    if target.is_dir():
        return target
    scratch = Path(tempfile.mkdtemp(prefix=".support-", dir=cache_root()))
    for name, (data, mode) in environment.support_files().items():
        (scratch / name).parent.mkdir(parents=True, exist_ok=True)
        (scratch / name).write_bytes(data)
        (scratch / name).chmod(mode)
        if name.endswith(".py"):
            py_compile.compile(str(scratch / name), doraise=True,
                               invalidation_mode=py_compile.PycInvalidationMode.CHECKED_HASH)
    try:
        scratch.rename(target)
    except OSError:
        shutil.rmtree(scratch, ignore_errors=True)
    return target
