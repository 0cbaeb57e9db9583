"""The local sandbox's repository as an overlay of the environment's template, where the machine
allows it: the template is the read-only lower layer and the sandbox's writes go to an upper
folder of its own, so a sandbox starts without copying the repository (a jest task's template,
node_modules and all, is 375 MB). This is the file system Docker gives a container, so the tests
see what they see in the task's image. It needs a kernel mount, which needs root (CAP_SYS_ADMIN);
elsewhere, or when a mount fails, the sandbox copies the template as before (`copy_tree`).

A mount outlives a killed owner: `reap` unmounts those of dead owners before their folders go.
"""

from __future__ import annotations

import os
import subprocess
import threading
from pathlib import Path

from cooperbench.generation.util.owners import pid_alive

_usable: dict[str, bool] = {}  # "overlay": whether mounting works here, learnt by the first try
_lock = threading.Lock()
UNSAFE = (",", ":", "\\", "\n")  # characters the mount options cannot hold as given


def mount(lower: Path, layer: Path, target: Path) -> bool:
    """Mount `target` as `lower` with writes in `layer` (its `upper/` and `work/`); False when this
    machine cannot, and then never tries again in this process."""
    if _usable.get("overlay") is False or os.geteuid() != 0 or any(c in str(p) for p in (lower, layer, target) for c in UNSAFE):
        return False
    upper, work = layer / "upper", layer / "work"
    upper.mkdir(parents=True, exist_ok=True)
    work.mkdir(parents=True, exist_ok=True)
    options = f"lowerdir={lower},upperdir={upper},workdir={work}"
    proc = subprocess.run(["mount", "-t", "overlay", "overlay", "-o", options, str(target)], capture_output=True)
    with _lock:
        if proc.returncode != 0 and "overlay" not in _usable:
            _usable["overlay"] = False  # no overlayfs, or no right to mount: copies from now on
        elif proc.returncode == 0:
            _usable["overlay"] = True
    return proc.returncode == 0


def unmount(target: Path) -> None:
    """Detach `target` (lazily: processes being killed may still hold it)."""
    subprocess.run(["umount", "-l", str(target)], capture_output=True)


def mounted_under(folder: Path) -> list[Path]:
    """The mount points under `folder`, from this process's mount table."""
    prefix = str(folder.resolve()) + "/"
    try:
        lines = Path("/proc/self/mounts").read_text().splitlines()
    except OSError:
        return []
    points = [line.split()[1].replace("\\040", " ") for line in lines if len(line.split()) > 2]
    return [Path(p) for p in points if p.startswith(prefix)]


def reap(sandboxes: Path) -> None:
    """Unmount the overlays of sandboxes whose owner (the pid their folder is named by) is gone."""
    for point in mounted_under(sandboxes):
        owner = point.relative_to(sandboxes.resolve()).parts[0].split("-")[0]
        if owner.isdigit() and not pid_alive(int(owner)):
            unmount(point)
