"""Every feature of every real task (../shared/real-tasks) validated against the rest of its task,
as a table, beside the benchmark's own conflict verdicts.

Prints: the table (one row per feature: valid / invalid with the reasons / the environment's
failure named), how many test verdicts agree with what the task's runner gives an accepted
feature (every test of the feature passes with it and nothing breaks), the conflict matrices
against the gold record, and the wall time per task (environment build included when cold).

Run: python bench/real_tasks.py [--backend local|docker] [--tasks dspy_task/task8394,...]
     [--features 1,2] [--json rows.json]   (COOPERBENCH_REAL_TASKS moves the data folder)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REAL = Path(os.environ.get("COOPERBENCH_REAL_TASKS") or ROOT.parent / "shared" / "real-tasks")


def unpack_repos(folder: Path) -> Path:
    """Each tarball's repository, unpacked once into `folder` (kept between runs)."""
    for tarball in sorted((REAL / "repos").glob("*.tar.gz")):
        target = folder / tarball.name.removesuffix(".tar.gz")
        if not (target / "repo").is_dir():
            target.mkdir(parents=True, exist_ok=True)
            subprocess.run(["tar", "-xzf", str(tarball), "-C", str(target)], check=True)
            subprocess.run(["git", "-C", str(target / "repo"), "reset", "-q", "--hard"], check=True)
    return folder


def gold_agreement(tasks, repos: Path) -> tuple[int, list[tuple]]:
    from cooperbench.generation.conflicts.detect import conflict_matrix
    from cooperbench.generation.tasks.task import find_clone

    gold = json.loads((REAL / "gold-conflicts.json").read_text())["pairs"]
    disagree = []
    for task in tasks:
        ours = {(int(r.f1), int(r.f2)): r.has_conflict for r in conflict_matrix(task, find_clone(task, repos))}
        for pair in gold:
            if pair["repo"] == task.repo_name and pair["task_id"] == task.task_id:
                if ours[(pair["f1"], pair["f2"])] != pair["has_conflict"]:
                    disagree.append((task.name, pair["f1"], pair["f2"], pair["has_conflict"]))
    return sum(1 for p in gold if any(p["repo"] == t.repo_name and p["task_id"] == t.task_id for t in tasks)), disagree


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--backend", default="local")
    parser.add_argument("--tasks", default="")
    parser.add_argument("--features", default="")
    parser.add_argument("--json")
    args = parser.parse_args()
    from cooperbench.generation.schemas import ValidationSettings
    from cooperbench.generation.tasks.task import scan_dataset
    from cooperbench.generation.validation.selfcheck import check_task, render_table

    repos = unpack_repos(Path(tempfile.gettempdir()) / "cooperbench-real-repos")
    tasks, problems = scan_dataset(REAL / "dataset")
    if args.tasks:
        tasks = [t for t in tasks if t.name in args.tasks.split(",")]
    wanted = [int(x) for x in args.features.split(",")] if args.features else None
    rows, times = [], {}
    for task in tasks:
        started = time.monotonic()
        rows += check_task(task, repos, ValidationSettings(backend=args.backend), wanted)
        times[task.name] = time.monotonic() - started
        print(f"{task.name}: {time.monotonic() - started:.0f} s", file=sys.stderr, flush=True)
    print(render_table(rows))
    tests_agree = [r for r in rows if r.outcome in ("valid", "invalid") and r.broken == 0 and r.fail_to_pass > 0
                   and "fail with the feature" not in r.detail]
    judged = [r for r in rows if r.outcome in ("valid", "invalid")]
    print(f"test verdicts as the runner gives an accepted feature (fail-to-pass found, nothing broken): "
          f"{len(tests_agree)}/{len(judged)} judged features; environment failures: "
          f"{sum(r.outcome == 'environment' for r in rows)}; unreadable tasks: {len(problems)}")
    pairs, disagree = gold_agreement(tasks, repos)
    print(f"conflict pairs equal to the benchmark's record: {pairs - len(disagree)}/{pairs}"
          + "".join(f"\n  differs: {t} {a}-{b} (record says {'conflict' if g else 'clean'})" for t, a, b, g in disagree))
    print("wall time per task (environment built when cold): "
          + ", ".join(f"{name} {seconds:.0f} s" for name, seconds in times.items()))
    if args.json:
        Path(args.json).write_text(json.dumps([asdict(r) for r in rows], indent=2) + "\n")


if __name__ == "__main__":
    main()
