"""A local sandbox's start, copy against overlay, on a tree the size of a jest task's template
(node_modules: ~30,000 files; here 20,000 files of 10 KB by default): the copy every sandbox made
before (`local_backend.copy_tree`), against mounting the template as an overlay's lower layer
(`sandbox/overlay.py`, root only); and one disk-limit check (made every second a command runs)
over the whole tree against over the overlay's layer only. Each measured three times, the best
kept, the ratio printed, in one run.

Run: python bench/overlay.py [--files 20000] [--size 10240]
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path


def best(work, times: int = 3) -> float:
    found = []
    for _ in range(times):
        started = time.perf_counter()
        work()
        found.append(time.perf_counter() - started)
    return min(found)


def main() -> None:
    from cooperbench.generation.sandbox import overlay
    from cooperbench.generation.sandbox.limits import disk_usage
    from cooperbench.generation.sandbox.local_backend import copy_tree

    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=20_000)
    parser.add_argument("--size", type=int, default=10_240)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="cb-bench-overlay-", dir=Path.home() / ".cache"))
    try:
        template = root / "template"
        blob = os.urandom(args.size)
        for i in range(args.files):
            folder = template / "node_modules" / f"pkg{i // 100}"
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"file{i}.js").write_bytes(blob)
        mb = args.files * args.size / 2**20

        def copy() -> None:
            target = root / "copy"
            target.mkdir()
            copy_tree(template, target)
            shutil.rmtree(target)

        def mount() -> None:
            target, layer = root / "merged", root / "layer"
            target.mkdir()
            if not overlay.mount(template, layer, target):
                raise RuntimeError("no overlay here")
            overlay.unmount(target)
            shutil.rmtree(layer)
            target.rmdir()

        copied = best(copy)
        walk = best(lambda: disk_usage(template, 2**40))
        print(f"{args.files} files, {mb:.0f} MB: copy {copied:.2f} s; a disk check over the whole tree {walk:.3f} s "
              f"(load {os.getloadavg()[0]:.2f})")
        try:
            mounted = best(mount)
        except RuntimeError:
            print("overlay: this machine cannot mount one (not root, or no overlayfs): sandboxes copy")
            return
        (root / "layer").mkdir()
        layer = best(lambda: disk_usage(root / "layer", 2**40))
        print(f"overlay {mounted:.3f} s ({copied / mounted:.0f}x faster a sandbox start); a disk check over the layer "
              f"{layer * 1000:.2f} ms ({walk / max(layer, 1e-6):.0f}x)")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
