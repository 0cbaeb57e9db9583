"""Resource limits for the local backend's jails: rlimits through `prlimit` on every command, and
memory and process-count limits through a cgroup of their own when this machine lets us make one
(cgroup v1 or v2, as root). Disk is bounded per file (RLIMIT_FSIZE) and in all (the sandbox
checks its folder's size after each command)."""

from __future__ import annotations

import os
import secrets
import threading
from dataclasses import dataclass
from pathlib import Path

from cooperbench.generation.util.owners import pid_alive

CGROUP_ROOT = Path("/sys/fs/cgroup")
GiB = 1024**3


@dataclass(frozen=True)
class Limits:
    memory: int = 4 * GiB  # a test run or an agent; environment builds get BUILD_MEMORY
    pids: int = 2048
    file_size: int = 4 * GiB
    open_files: int = 16384
    disk: int = 10 * GiB  # all files a sandbox writes, together

    def prlimit(self) -> list[str]:
        return ["prlimit", f"--fsize={self.file_size}", f"--nofile={self.open_files}", "--core=0", "--"]


BUILD_MEMORY = 8 * GiB  # compiling a task's environment (native extensions) takes more


def machine_memory() -> int:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


class MemoryBudget:
    """What this process's sandboxes may hold at once: three quarters of the machine's memory,
    whatever `jobs` says. A sandbox reserves its memory limit as it opens and gives it back as it
    closes; one that does not fit waits, so the limits of the sandboxes running together always
    fit the machine (`jobs` 2 x 4 runs x 8 GiB would not fit 24 GiB; queued, they do)."""

    def __init__(self, total: int):
        self.total, self.free = total, total
        self._changed = threading.Condition()

    def reserve(self, amount: int, stopping: threading.Event) -> int:
        """Take `amount` (at most the whole budget), waiting while it does not fit; returns what
        was taken. Raises KeyboardInterrupt once `stopping` is set (Ctrl-C)."""
        amount = min(amount, self.total)
        with self._changed:
            while self.free < amount:
                if stopping.is_set():
                    raise KeyboardInterrupt
                self._changed.wait(timeout=1.0)
            self.free -= amount
        return amount

    def release(self, amount: int) -> None:
        with self._changed:
            self.free = min(self.total, self.free + amount)
            self._changed.notify_all()


SANDBOX_MEMORY = MemoryBudget(machine_memory() * 3 // 4)


class Cgroup:
    """A cgroup for one sandbox's commands, or nothing (`active` False) where none can be made."""

    def __init__(self, limits: Limits):
        self.paths: list[Path] = []
        self._memory: Path | None = None
        name = f"cooperbench-{os.getpid()}-{secrets.token_hex(4)}"
        try:
            if (CGROUP_ROOT / "cgroup.controllers").exists():
                self._make_v2(name, limits)
            else:
                self._make_v1(name, limits)
        except OSError:
            self.remove()
            self.paths, self._memory = [], None

    @property
    def active(self) -> bool:
        return bool(self.paths)

    def _own(self, controller: str) -> Path:
        """Where this process sits in a v1 hierarchy (a new group must sit under it)."""
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            _, controllers, path = line.split(":", 2)
            if controller in controllers.split(","):
                return CGROUP_ROOT / controller / path.lstrip("/")
        raise OSError(f"no {controller} cgroup")

    def _make_v1(self, name: str, limits: Limits) -> None:
        for controller, settings in (("memory", {"memory.limit_in_bytes": limits.memory}),
                                     ("pids", {"pids.max": limits.pids})):
            group = self._own(controller) / name
            group.mkdir()
            self.paths.append(group)
            for key, value in settings.items():
                (group / key).write_text(str(value))
            if controller == "memory":
                self._memory = group

    def _make_v2(self, name: str, limits: Limits) -> None:
        own = Path("/proc/self/cgroup").read_text().strip().split("::", 1)[-1]
        parent = CGROUP_ROOT / own.lstrip("/")
        if not {"memory", "pids"} <= set((parent / "cgroup.subtree_control").read_text().split()):
            raise OSError("memory and pids controllers not delegated")
        group = parent / name
        group.mkdir()
        self.paths.append(group)
        (group / "memory.max").write_text(str(limits.memory))
        (group / "pids.max").write_text(str(limits.pids))
        self._memory = group

    def enter(self) -> str:
        """Shell text that moves the shell running it (and so what it execs) into the group."""
        return "".join(f"echo $$ > {group}/cgroup.procs; " for group in self.paths)

    def oom_kills(self) -> int:
        if self._memory is None:
            return 0
        for name, key in (("memory.events", "oom_kill"), ("memory.oom_control", "oom_kill")):
            file = self._memory / name
            if file.exists():
                for line in file.read_text().splitlines():
                    if line.startswith(key + " "):
                        return int(line.split()[1])
        return 0

    def remove(self) -> None:
        for group in self.paths:
            try:
                group.rmdir()
            except OSError:  # processes still leaving: the next reap removes it
                pass


def reap_cgroups() -> None:
    """Remove empty groups left by processes that no longer exist (other processes may be
    removing theirs at the same time: a group that vanishes mid-walk is fine)."""
    for pattern in ("cooperbench-*", "*/cooperbench-*", "*/*/cooperbench-*", "*/*/*/cooperbench-*"):
        try:
            groups = list(CGROUP_ROOT.glob(pattern))
        except OSError:
            continue
        for group in groups:
            pid = group.name.split("-")[1]
            if pid.isdigit() and not pid_alive(int(pid)):
                try:
                    group.rmdir()
                except OSError:
                    pass


def disk_usage(root: Path, cap: int, skip: Path | None = None) -> int:
    """Bytes allocated under `root` (sparse files count what they use), stopping once past `cap`;
    `skip`: a folder not counted (an overlay's merged view, whose writes are counted in its layer)."""
    total = 0
    stack = [root]
    while stack:
        folder = stack.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            try:
                info = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            total += info.st_blocks * 512
            if entry.is_dir(follow_symlinks=False) and (skip is None or entry.path != str(skip)):
                stack.append(Path(entry.path))
        if total > cap:
            break
    return total
