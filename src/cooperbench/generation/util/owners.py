"""Work folders and resources named by the process that owns them, so that what a killed process
(SIGKILL) leaves behind is found and removed by the next one."""

from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

_reaped: set[tuple[str, Path]] = set()


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


MEMORY = Path("/dev/shm")  # a tmpfs on Linux: small scratch files written and read at memory speed


def scratch_root(in_memory: bool = False) -> Path:
    """Where scratch folders go: the temp folder, or memory when asked and the machine has it."""
    if in_memory and MEMORY.is_dir() and os.access(MEMORY, os.W_OK | os.X_OK):
        return MEMORY
    return Path(tempfile.gettempdir())


@contextmanager
def scratch_dir(kind: str, *, in_memory: bool = False) -> Iterator[str]:
    """A temp folder `cb-<kind>-<pid>-*`, removed on leaving; the first use of a kind in a process
    removes the folders of that kind whose owner is gone. `in_memory` puts it on a tmpfs when there
    is one: for many small files (git objects) that live only as long as one computation."""
    root = scratch_root(in_memory)
    if (kind, root) not in _reaped:
        _reaped.add((kind, root))
        reap(root, f"cb-{kind}-")
    with tempfile.TemporaryDirectory(prefix=f"cb-{kind}-{os.getpid()}-", dir=root) as folder:
        yield folder


def reap(folder: Path, prefix: str = "") -> None:
    """Remove the entries `<prefix><pid>-*` of `folder` whose owner process is gone."""
    try:
        entries = list(folder.iterdir()) if folder.is_dir() else []
    except OSError:
        return
    for entry in entries:
        if not entry.name.startswith(prefix):
            continue
        owner = entry.name[len(prefix):].split("-")[0]
        if owner.isdigit() and not pid_alive(int(owner)):
            shutil.rmtree(entry, ignore_errors=True)
