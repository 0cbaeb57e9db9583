"""Every pair of features of the real tasks (../shared/real-tasks) classified: clean, trivial
(git's union merge of the two whole features passes both features' tests) or hard, per task,
with the wall time (environment built when cold) and the time per classified pair.

Prints the quality table (check-dataset --quality), the share of conflicting pairs that are
trivial, and the seconds per conflicting pair warm.

Run: python bench/conflict_classes.py [--tasks dspy_task/task8394,...] [--jobs 2] [--json pairs.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from real_tasks import REAL, unpack_repos  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", default="")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--json")
    args = parser.parse_args()
    from cooperbench.generation.grading.selfcheck import check_quality, render_quality
    from cooperbench.generation.schemas import ValidationSettings
    from cooperbench.generation.tasks.task import scan_dataset

    repos = unpack_repos(Path(tempfile.gettempdir()) / "cooperbench-real-repos")
    tasks, _ = scan_dataset(REAL / "dataset")
    if args.tasks:
        tasks = [t for t in tasks if t.name in args.tasks.split(",")]
    rows, records, times = [], {}, {}
    for task in tasks:
        started = time.monotonic()
        check_quality(task, repos, ValidationSettings(), args.jobs)  # cold: builds the environment, runs the base
        cold = time.monotonic() - started
        started = time.monotonic()
        row, pairs = check_quality(task, repos, ValidationSettings(), args.jobs)  # warm: what classifying costs
        warm = time.monotonic() - started
        rows.append(row)
        records[task.name] = pairs
        times[task.name] = (cold, warm, row.conflicting)
        print(f"{task.name}: {row.conflicting} conflicting, {row.trivial} trivial, {row.hard} hard; "
              f"cold {cold:.0f} s, warm {warm:.0f} s", file=sys.stderr, flush=True)
    print(render_quality(rows))
    warm_pairs = [(warm, n) for _, warm, n in times.values() if n]
    if warm_pairs:
        print(f"warm: {sum(w for w, _ in warm_pairs):.0f} s for {sum(n for _, n in warm_pairs)} conflicting pairs, "
              f"{sum(w for w, _ in warm_pairs) / sum(n for _, n in warm_pairs):.1f} s a pair (jobs {args.jobs})")
    print("per task (cold / warm): " + ", ".join(f"{name} {c:.0f}/{w:.0f} s" for name, (c, w, _) in times.items()))
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": [asdict(r) for r in rows], "pairs": records}, indent=2) + "\n")


if __name__ == "__main__":
    main()
