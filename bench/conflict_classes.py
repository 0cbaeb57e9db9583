"""Every pair of features of the real tasks (../shared/real-tasks) classified: clean, trivial
(git's union merge of the two whole features passes both features' tests) or hard, per task,
with the wall time (environment built when cold) and the time per classified pair.

Prints the quality table (check-dataset --quality), the share of conflicting pairs that are
trivial, and the seconds per conflicting pair warm: with every run made (the environment built,
no run kept), and with the runs an earlier process kept found (grading/runcache.py).

Run: python bench/conflict_classes.py [--tasks dspy_task/task8394,...] [--jobs 2] [--json pairs.json]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from real_tasks import REAL, unpack_repos  # noqa: E402


def forget_runs() -> None:
    """No run kept, by this process or any: the next check makes every run."""
    from cooperbench.generation.core.cache import cache_root
    from cooperbench.generation.grading import runcache

    shutil.rmtree(cache_root() / "runs", ignore_errors=True)
    runcache._in_process.clear()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", default="")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--json")
    args = parser.parse_args()
    from cooperbench.generation.schemas import ValidationSettings
    from cooperbench.generation.tasks.task import scan_dataset
    from cooperbench.generation.validation.selfcheck import check_quality, render_quality

    repos = unpack_repos(Path(tempfile.gettempdir()) / "cooperbench-real-repos")
    tasks, _ = scan_dataset(REAL / "dataset")
    if args.tasks:
        tasks = [t for t in tasks if t.name in args.tasks.split(",")]
    rows, records, times = [], {}, {}
    for task in tasks:
        started = time.monotonic()
        check_quality(task, repos, ValidationSettings(), args.jobs)  # cold: builds the environment, runs the base
        cold = time.monotonic() - started
        forget_runs()
        started = time.monotonic()
        check_quality(task, repos, ValidationSettings(), args.jobs)  # warm, every run made: what classifying costs
        warm = time.monotonic() - started
        started = time.monotonic()
        row, pairs = check_quality(task, repos, ValidationSettings(), args.jobs)  # the runs kept
        kept = time.monotonic() - started
        rows.append(row)
        records[task.name] = pairs
        times[task.name] = (cold, warm, kept, row.conflicting)
        print(f"{task.name}: {row.conflicting} conflicting, {row.trivial} trivial, {row.hard} hard; "
              f"cold {cold:.0f} s, warm {warm:.0f} s, runs kept {kept:.1f} s", file=sys.stderr, flush=True)
    print(render_quality(rows))
    pairs = sum(n for *_, n in times.values())
    if pairs:
        for label, column in (("warm, every run made", 1), ("the runs kept", 2)):
            seconds = sum(t[column] for t in times.values() if t[3])
            print(f"{label}: {seconds:.1f} s for {pairs} conflicting pairs, {seconds / pairs:.2f} s a pair (jobs {args.jobs})")
    print("per task (cold / warm / kept): " + ", ".join(f"{name} {c:.0f}/{w:.0f}/{k:.1f} s" for name, (c, w, k, _) in times.items()))
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": [asdict(r) for r in rows], "pairs": records}, indent=2) + "\n")


if __name__ == "__main__":
    main()
