"""A bubblewrap jail: what a local sandbox's commands can see, and how one command runs in it.

The jail sees the system's programs and libraries read-only, a minimal /etc of our own (users,
hosts, resolver, CA certificates; no shadow, no ssh, no keys), the host's toolchains read-only,
and only the folders the caller mounts. It has no network unless asked, no capabilities, its own
pid, ipc and uts namespaces, and runs as uid 1000. Every command runs under rlimits and, where
the machine allows, a cgroup; its output is capped while it is read; the whole process group dies
at the time limit, on Ctrl-C, or when the caller dies.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from cooperbench.generation.core.contract import CommandResult
from cooperbench.generation.errors import GenerationError
from cooperbench.generation.sandbox.base import OUTPUT_LIMIT, BoundedBuffer, drain
from cooperbench.generation.sandbox.limits import Cgroup, Limits

SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64")
ETC_FILES = (
    "hosts", "resolv.conf", "nsswitch.conf", "host.conf", "ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime",
    "alternatives", "ca-certificates.conf", "mime.types", "protocols", "services", "os-release", "debian_version",
    "pip.conf", "xdg/pip", "python3", "python3.11", "bash.bashrc", "inputrc", "gai.conf",
)
ETC_PASSWD = (
    "root:x:0:0:root:/root:/bin/bash\n"
    "sandbox:x:1000:1000:sandbox:/tmp/home:/bin/bash\n"
    "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
)
ETC_GROUP = "root:x:0:\nsandbox:x:1000:\nnogroup:x:65534:\n"
SANDBOX_UID = 1000
TOOLCHAINS = ("node", "npm", "npx", "go", "cargo", "rustc", "rustup")
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
WATCH_INTERVAL = 1.0  # seconds between checks of a running command's limits, at least
WATCH_SHARE = 0.05  # and at most this share of the command's time spent checking (see `watch_wait`)
WATCH_INTERVAL_MAX = 10.0  # yet never longer between checks than this


def bwrap_path() -> str:
    path = shutil.which("bwrap")
    if not path:
        raise GenerationError(
            "the local backend needs bubblewrap: install it (Debian/Ubuntu: apt-get install bubblewrap)"
        )
    return path


def minimal_etc(cache: Path) -> Path:
    """A copy of the few /etc entries programs need, made once per content."""
    entries = {name: Path("/etc", name) for name in ETC_FILES if Path("/etc", name).exists()}
    digest = hashlib.sha256(ETC_PASSWD.encode())
    for name, path in sorted(entries.items()):
        digest.update(name.encode() + (path.read_bytes() if path.is_file() else b""))
    target = cache / f"etc-{digest.hexdigest()[:12]}"
    if target.is_dir():
        return target
    scratch = cache / f".etc-{os.getpid()}-{time.monotonic_ns()}"
    scratch.mkdir(parents=True)
    for name, path in entries.items():
        (scratch / name).parent.mkdir(parents=True, exist_ok=True)
        if path.is_dir() and not path.is_symlink():
            shutil.copytree(path, scratch / name, symlinks=True, ignore_dangling_symlinks=True)
        elif path.is_symlink():
            os.symlink(os.readlink(path), scratch / name)
        else:
            shutil.copy2(path, scratch / name)
    (scratch / "passwd").write_text(ETC_PASSWD)
    (scratch / "group").write_text(ETC_GROUP)
    (scratch / "ssl" / "certs").mkdir(parents=True, exist_ok=True)
    try:
        scratch.rename(target)
    except OSError:  # made by another process meanwhile
        shutil.rmtree(scratch, ignore_errors=True)
    return target


@dataclass(frozen=True)
class Toolchains:
    """Host toolchains outside the system folders (rustup, nvm, a Go in /opt ...): the folders to
    mount read-only at the same place, the bin folders to add to PATH, and their variables."""

    mounts: tuple[str, ...] = ()
    path: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()

    @staticmethod
    def find() -> "Toolchains":
        mounts, path, env = [], [], {}
        for name in TOOLCHAINS:
            found = shutil.which(name)
            if not found:
                continue
            bin_dir = str(Path(found).parent)
            if any(bin_dir == d or bin_dir.startswith(d + "/") for d in SYSTEM_DIRS):
                continue
            prefix = Path(bin_dir).parent if Path(bin_dir).name == "bin" else Path(bin_dir)
            # a tool's own prefix (~/.nvm/versions/node/v20) holds its libraries; a dot-folder
            # in a home (~/.cargo) holds configuration and credentials too: only its bin/ shows
            mounts.append(bin_dir if prefix.name.startswith(".") else str(prefix))
            path.append(bin_dir)
            if name == "rustup" or Path(found).resolve().name == "rustup":
                rustup_home = os.environ.get("RUSTUP_HOME") or str(Path.home() / ".rustup")
                if Path(rustup_home).is_dir():
                    mounts.append(rustup_home)
                    env["RUSTUP_HOME"] = rustup_home
        return Toolchains(tuple(dict.fromkeys(mounts)), tuple(dict.fromkeys(path)), tuple(sorted(env.items())))


@dataclass
class Jail:
    """The mounts and namespaces of one sandbox; `run` starts a command in them."""

    etc: Path
    binds: list[tuple[str, str]] = field(default_factory=list)  # (host, inside), read-write
    ro_binds: list[tuple[str, str]] = field(default_factory=list)  # (host, inside), read-only
    network: bool = False
    toolchains: Toolchains = field(default_factory=Toolchains)
    limits: Limits = field(default_factory=Limits)
    cgroup: Cgroup | None = None

    def args(self) -> list[str]:
        args = [bwrap_path(), "--die-with-parent", "--new-session", "--cap-drop", "ALL", "--unshare-all",
                "--unshare-user", "--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_UID), "--hostname", "sandbox"]
        if self.network:
            args.append("--share-net")
        for directory in SYSTEM_DIRS:
            args += ["--ro-bind-try", directory, directory]
        args += ["--ro-bind", str(self.etc), "/etc", "--ro-bind-try", "/etc/ssl/certs", "/etc/ssl/certs"]
        interpreter = Path(sys.base_prefix)
        if not any(interpreter.is_relative_to(d) for d in SYSTEM_DIRS):
            args += ["--ro-bind", str(interpreter), str(interpreter)]
        for directory in self.toolchains.mounts:
            args += ["--ro-bind", directory, directory]
        # later mounts go on top of earlier ones: a read-write repository inside a read-only /workspace
        for host, inside in sorted(self.ro_binds + self.binds, key=lambda b: b[1].count("/")):
            args += ["--bind" if (host, inside) in self.binds else "--ro-bind", host, inside]
        return args + ["--dev", "/dev", "--proc", "/proc"]

    def path_tail(self, first: tuple[str, ...] = ()) -> str:
        return ":".join([*first, *self.toolchains.path, SYSTEM_PATH])

    def run(self, command: str, cwd: str, timeout: float, env: dict[str, str], running: set | None = None,
            output_limit: int = OUTPUT_LIMIT, watch: Callable[[], str | None] | None = None) -> CommandResult:
        """Run `bash -c command` in the jail with exactly `env`. `watch`, called while the command
        runs (`watch_wait` apart), names a limit the command passed (it is killed then).
        bwrap reads its mounts from a pipe, so no host path shows in the jail's process list."""
        read_end, write_end = os.pipe()
        os.write(write_end, "".join(f"{arg}\0" for arg in [*self.args()[1:], "--chdir", cwd]).encode())
        os.close(write_end)
        jailed = [*self.limits.prlimit(), bwrap_path(), "--args", str(read_end), "bash", "-c", command]
        enter = self.cgroup.enter() if self.cgroup and self.cgroup.active else ""
        oom_before = self.cgroup.oom_kills() if self.cgroup else 0
        started = time.monotonic()
        try:
            proc = subprocess.Popen(["sh", "-c", f'{enter}exec "$@"', "sh", *jailed], stdin=subprocess.DEVNULL,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, start_new_session=True,
                                    cwd="/", pass_fds=(read_end,))  # cwd: the shell exports PWD, no host folder may show
        finally:
            os.close(read_end)
        out, err = BoundedBuffer(output_limit), BoundedBuffer(output_limit)
        pumps = [drain(proc.stdout, out), drain(proc.stderr, err)]
        if running is not None:
            running.add(proc)
        timed_out, passed = False, None
        try:
            deadline, wait = started + timeout, WATCH_INTERVAL
            while proc.poll() is None:
                left = deadline - time.monotonic()
                if left <= 0:
                    timed_out = True
                    break
                try:
                    proc.wait(timeout=min(left, wait) if watch else left)
                except subprocess.TimeoutExpired:
                    checking = time.monotonic()
                    passed = watch() if watch else None
                    if passed:
                        break
                    wait = watch_wait(time.monotonic() - checking)
            if proc.poll() is None:
                kill_group(proc)
                proc.wait()
        except BaseException:
            kill_group(proc)
            proc.wait()
            raise
        finally:
            kill_group(proc)  # anything the command left running in the background
            for pump in pumps:
                pump.join(timeout=5)
            if running is not None:
                running.discard(proc)
        oom = self.cgroup is not None and self.cgroup.oom_kills() > oom_before
        return CommandResult(
            exit_code=proc.returncode, stdout=out.text(), stderr=err.text(), timed_out=timed_out,
            duration=time.monotonic() - started,
            limit=passed or (f"memory limit of {self.limits.memory // 2**20} MiB reached" if oom else None),
            truncated=out.cut or err.cut,
        )


def watch_wait(took: float) -> float:
    """Seconds until the next check of a running command, given that the last one `took`: a second
    while checks are cheap, longer when they are not, so they cost at most WATCH_SHARE of a core.
    A disk check walks the sandbox's files: over a jest run's 55,000-file node_modules copy it
    takes 0.25 s alone, and every second it made four parallel runs take 56 s each instead of 26
    (docs/performance.md)."""
    return min(WATCH_INTERVAL_MAX, max(WATCH_INTERVAL, took / WATCH_SHARE))


def kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL the command's process group; the jailed processes die with their pid namespace."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
