"""What watching a running command's disk use costs the command: four local sandboxes at once
(the demo's environment), each holding a tree the size of a jest run's node_modules copy (55,000
small files, as react-hook-form's runner makes before every run) and running a command that
reads that tree, as jest's start does. Checked every second (as before) against `watch_wait`'s
interval (a second while checks are cheap, at most WATCH_SHARE of the time), alternately,
`--times` each, in one run.

Run: python bench/watch.py [--files 55000] [--rounds 6] [--times 2]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

SANDBOXES = 4


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=55_000)
    parser.add_argument("--rounds", type=int, default=6, help="reads of the whole tree a command makes")
    parser.add_argument("--times", type=int, default=2)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="cb-bench-watch-"))
    os.environ["COOPERBENCH_CACHE"] = str(root / "cache")
    from cooperbench.generation.sandbox import jail
    from cooperbench.generation.sandbox.local_backend import LocalSandbox
    from cooperbench.generation.tasks.task import load_task, resolve_repo

    task = load_task(Path(__file__).resolve().parents[1] / "dataset" / "miniconf_task" / "task1")
    fill = (f"mkdir -p /tmp/tree && cd /tmp/tree && for d in $(seq {args.files // 50}); do mkdir p$d; "
            f"for f in $(seq 50); do echo 'module.exports = {{}};' > p$d/f$f.js; done; done")
    work = f"for i in $(seq {args.rounds}); do find /tmp/tree -type f -exec cat {{}} + > /dev/null; done"
    every_second = (1.0, 1.0)  # WATCH_SHARE, WATCH_INTERVAL_MAX: a check a second, whatever it costs
    adaptive = (jail.WATCH_SHARE, jail.WATCH_INTERVAL_MAX)
    try:
        boxes = [LocalSandbox(task, resolve_repo(task)) for _ in range(SANDBOXES)]
        try:
            with ThreadPoolExecutor(SANDBOXES) as pool:
                assert all(r.ok for r in pool.map(lambda box: box.run(fill, timeout=1800), boxes))

                def parallel(policy: tuple[float, float]) -> float:
                    jail.WATCH_SHARE, jail.WATCH_INTERVAL_MAX = policy
                    started = time.perf_counter()
                    assert all(r.ok for r in pool.map(lambda box: box.run(work, timeout=1800), boxes))
                    return time.perf_counter() - started

                walls: dict[tuple[float, float], list[float]] = {every_second: [], adaptive: []}
                for _ in range(args.times):
                    for policy in walls:
                        walls[policy].append(parallel(policy))
        finally:
            for box in boxes:
                box.close()
        old, new = statistics.median(walls[every_second]), statistics.median(walls[adaptive])
        print(f"{SANDBOXES} sandboxes at once, {args.files} files each, {args.rounds} reads of the tree: checked every "
              f"second {old:.1f} s, at most {adaptive[0]:.0%} of the time {new:.1f} s (median of {args.times}): "
              f"ratio {new / old:.2f}; load {os.getloadavg()[0]:.2f}")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
