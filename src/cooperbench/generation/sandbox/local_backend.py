"""The embedded backend: no daemon, bubblewrap on the host.

Each sandbox is a scratch clone of the task repository mounted at /workspace/repo inside a
bubblewrap jail: no network (a new network namespace), no capabilities, a read-only view of the
system directories only (no home folders, no /root, no project files), its own /tmp, and an
environment built from scratch (no credentials). The task's dependencies live in a virtualenv
built once per (task, base commit, install commands, Python) and mounted read-only at
/workspace/venv; because every sandbox mounts its repository at the same path, an editable install
made while building the venv stays valid in all of them.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from cooperbench.generation.errors import GenerationError
from cooperbench.generation.gitutil import run_git
from cooperbench.generation.sandbox.base import (
    REPO_DIR,
    SCRATCH_DIR,
    CommandResult,
    Sandbox,
    cap_output,
    scrub_env,
)
from cooperbench.generation.task import Task, cache_root

VENV_DIR = "/workspace/venv"
VENV_LAYOUT = 1  # bump when the way venvs are built changes
SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/etc", "/opt")
HIDDEN_SYSTEM_DIRS = ("/etc/ssh", "/etc/ssl/private")
SANDBOX_PATH = f"{VENV_DIR}/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def bwrap_path() -> str:
    path = shutil.which("bwrap")
    if not path:
        raise GenerationError(
            "the local backend needs bubblewrap: install it (Debian/Ubuntu: apt-get install bubblewrap)"
        )
    return path


def sandbox_env() -> dict[str, str]:
    """The whole environment a sandboxed command sees: nothing inherited, so no secrets."""
    return {
        "PATH": SANDBOX_PATH,
        "HOME": f"{SCRATCH_DIR}/home",
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "TERM": "dumb",
        "PAGER": "cat",
        "GIT_PAGER": "cat",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "VIRTUAL_ENV": VENV_DIR,
    }


def jail_args(repo: Path, scratch: Path, venv: Path | None, *, network: bool) -> list[str]:
    """bubblewrap arguments: what the jail sees, and at which path."""
    args = [bwrap_path(), "--die-with-parent", "--new-session", "--cap-drop", "ALL", "--unshare-all"]
    if network:
        args.append("--share-net")
    for directory in SYSTEM_DIRS:
        args += ["--ro-bind-try", directory, directory]
    for directory in HIDDEN_SYSTEM_DIRS:
        if Path(directory).is_dir():
            args += ["--tmpfs", directory]
    interpreter_home = Path(sys.base_prefix)
    if not any(interpreter_home.is_relative_to(d) for d in SYSTEM_DIRS):
        args += ["--ro-bind", str(interpreter_home), str(interpreter_home)]
    if venv is not None:
        args += ["--ro-bind", str(venv), VENV_DIR]
    args += [
        "--bind", str(repo), REPO_DIR,
        "--bind", str(scratch), SCRATCH_DIR,
        "--dev", "/dev",
        "--proc", "/proc",
    ]
    return args


def run_jailed(
    args: list[str], command: str, cwd: str, timeout: float, env: dict[str, str], running: set | None = None
) -> CommandResult:
    """Run `bash -c command` in the jail; the whole process group dies at the time limit or on
    Ctrl-C, so nothing outlives the call. `running` tracks the live process for `close()`."""
    started = time.monotonic()
    proc = subprocess.Popen(
        [*args, "--chdir", cwd, "bash", "-c", command],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        start_new_session=True,
    )
    timed_out = False
    if running is not None:
        running.add(proc)
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        _kill_group(proc)
        stdout, stderr = proc.communicate()
    except BaseException:
        _kill_group(proc)
        proc.wait()
        raise
    finally:
        if running is not None:
            running.discard(proc)
    return CommandResult(
        exit_code=proc.returncode,
        stdout=cap_output(stdout.decode("utf-8", "replace")),
        stderr=cap_output(stderr.decode("utf-8", "replace")),
        timed_out=timed_out,
        duration=time.monotonic() - started,
    )


def _kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL bwrap's process group; the jailed processes die with their pid namespace."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def checkout(git_dir: Path, commit: str, target: Path) -> None:
    """A self-contained clone of `git_dir` at `commit` (hard-linked objects: fast, no alternates
    pointing outside the jail)."""
    run_git(["clone", "--quiet", "--no-checkout", str(git_dir), str(target)], None)
    run_git(["--work-tree", str(target), "checkout", "--quiet", "--detach", commit], target / ".git")


# ---------------------------------------------------------------- the cached virtualenv


def install_commands(task: Task) -> list[str]:
    commands = list(task.tests.install) if task.tests else []
    if task.tests is None or task.tests.framework == "pytest":
        commands.append("python -m pip show pytest >/dev/null 2>&1 || python -m pip install pytest")
    return commands


def venv_key(task: Task) -> str:
    spec = [task.name, task.base_commit, install_commands(task), sys.version, VENV_LAYOUT]
    return hashlib.sha256(json.dumps(spec).encode()).hexdigest()[:16]


def ensure_venv(task: Task, git_dir: Path, *, timeout: float = 1800) -> tuple[Path, bool]:
    """The task's virtualenv, built if missing. Returns (path, built_now).

    The build may use the package index (network on), with credentials stripped from its
    environment; a failed build leaves nothing in the cache.
    """
    venvs = cache_root() / "venvs"
    target = venvs / f"{task.repo_name}-task{task.task_id}-{venv_key(task)}"
    if (target / ".complete").exists():
        return target, False
    venvs.mkdir(parents=True, exist_ok=True)
    build = Path(tempfile.mkdtemp(prefix=".build-", dir=venvs))
    try:
        for name in ("repo", "venv", "tmp"):
            (build / name).mkdir()
        checkout(git_dir, task.base_commit, build / "repo")
        script = " && ".join(
            [f"{shlex.quote(interpreter())} -m venv {VENV_DIR}", f". {VENV_DIR}/bin/activate", *install_commands(task)]
        )
        args = jail_args(build / "repo", build / "tmp", None, network=True)
        args += ["--bind", str(build / "venv"), VENV_DIR]
        env = {**scrub_env(), **sandbox_env()}
        result = run_jailed(args, script, REPO_DIR, timeout, env)
        if not result.ok:
            last = (result.stderr.strip() or result.stdout.strip() or "no output").splitlines()[-1]
            why = "timed out" if result.timed_out else f"exit {result.exit_code}"
            raise GenerationError(f"building the virtualenv of {task.name} failed ({why}): {last}")
        (build / "venv" / ".complete").write_text(json.dumps({"commands": install_commands(task)}) + "\n")
        try:
            (build / "venv").rename(target)
        except OSError:  # built concurrently by another process: keep theirs
            if not (target / ".complete").exists():
                raise
    finally:
        shutil.rmtree(build, ignore_errors=True)
    return target, True


def interpreter() -> str:
    """The Python the venvs are made from: the one running this tool, outside any venv."""
    name = f"python{sys.version_info.major}.{sys.version_info.minor}"
    candidate = Path(sys.base_prefix) / "bin" / name
    return str(candidate if candidate.exists() else Path(sys.base_prefix) / "bin" / "python3")


# ---------------------------------------------------------------- the sandbox


class LocalSandbox(Sandbox):
    backend = "local"

    def __init__(self, task: Task, git_dir: Path, *, network: bool = False, with_venv: bool = True):
        self.task = task
        self.root = Path(tempfile.mkdtemp(prefix="cb-sandbox-"))
        self.closed = False
        self._running: set[subprocess.Popen] = set()
        try:
            self.venv, self.venv_built = ensure_venv(task, git_dir) if with_venv else (None, False)
            self.host_repo = self.root / "repo"
            self.host_scratch = self.root / "tmp"
            self.host_scratch.mkdir()
            (self.host_scratch / "home").mkdir()
            checkout(git_dir, task.base_commit, self.host_repo)
            self._args = jail_args(self.host_repo, self.host_scratch, self.venv, network=network)
        except BaseException:
            self.close()
            raise

    def run(self, command: str, *, timeout: float, cwd: str | None = None) -> CommandResult:
        if self.closed:
            raise GenerationError("the sandbox is closed")
        return run_jailed(self._args, command, cwd or REPO_DIR, timeout, sandbox_env(), self._running)

    def _host_path(self, path: str) -> Path:
        """Map a sandbox path to the host; only the repository and the scratch dir exist."""
        pure = Path(path) if path.startswith("/") else Path(REPO_DIR) / path
        for inside, outside in ((Path(REPO_DIR), self.host_repo), (Path(SCRATCH_DIR), self.host_scratch)):
            if pure.is_relative_to(inside):
                host = (outside / pure.relative_to(inside)).resolve()
                if host.is_relative_to(outside.resolve()):
                    return host
        raise GenerationError(f"{path}: outside the sandbox's repository and scratch folders")

    def write_file(self, path: str, data: bytes) -> None:
        host = self._host_path(path)
        host.parent.mkdir(parents=True, exist_ok=True)
        host.write_bytes(data)

    def read_file(self, path: str) -> bytes:
        return self._host_path(path).read_bytes()

    def versions(self) -> dict[str, str]:
        proc = subprocess.run([bwrap_path(), "--version"], capture_output=True, text=True)
        return {"bwrap": proc.stdout.strip()}

    def close(self) -> None:
        """Kill what still runs, then remove the work tree and scratch folder."""
        if not self.closed:
            self.closed = True
            for proc in list(self._running):
                _kill_group(proc)
            shutil.rmtree(self.root, ignore_errors=True)
