"""Onboarding the public histories of ../shared/history: the funnel and the time per task.

Each repository is onboarded twice through the CLI, each run a new process with the same cache:
cold (a cache made for this run: nothing built, no run kept) and warm (the environments built
and every run kept by the first). Prints each repository's funnel, the groups tried and the
tasks made, then a table of the times.

Run: python bench/onboard.py [--bundles humanize,more-itertools] [--max-tasks 1]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HISTORY = Path(os.environ.get("COOPERBENCH_HISTORY") or ROOT.parent / "shared" / "history")


def onboard(bundle: Path, out: Path, cache: Path, max_tasks: int) -> tuple[float, str]:
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "cooperbench.generation", "onboard", str(bundle), "--out", str(out),
                           "--max-tasks", str(max_tasks)], capture_output=True, text=True,
                          env={**os.environ, "COOPERBENCH_CACHE": str(cache)})
    seconds = time.monotonic() - started
    if proc.returncode != 0:
        sys.exit(f"onboard {bundle.name} failed: {proc.stderr.strip().splitlines()[-1:]}")
    return seconds, proc.stdout


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bundles", default="humanize,more-itertools")
    parser.add_argument("--max-tasks", type=int, default=1)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="cb-bench-onboard-") as scratch:
        for name in args.bundles.split(","):
            bundle = HISTORY / f"{name}.bundle"
            if not bundle.is_file():
                sys.exit(f"{bundle}: absent (the bench needs ../shared/history)")
            cache = Path(scratch) / f"cache-{name}"
            cold, printed = onboard(bundle, Path(scratch) / f"cold-{name}", cache, args.max_tasks)
            warm, _ = onboard(bundle, Path(scratch) / f"warm-{name}", cache, args.max_tasks)
            print(printed)
            report = json.loads((Path(scratch) / f"cold-{name}" / f"{name.replace('-', '_')}_task"
                                 / "onboard-report.json").read_text())
            tasks = max(len(report["tasks"]), 1)
            features = sum(len(g["features"]) for g in report["groups"] if g["outcome"] == "task")
            pairs = sum(len(g.get("conflicting_pairs", [])) for g in report["groups"] if g["outcome"] == "task")
            rows.append((name, report["funnel"]["changes"], report["funnel"]["candidates"], len(report["groups"]),
                         len(report["tasks"]), features, pairs, cold, cold / tasks, warm, warm / tasks))
    print("| repository | changes | candidates | groups tried | tasks | features | conflicting pairs "
          "| cold s | cold s/task | warm s | warm s/task |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(f"{v:.1f}" if isinstance(v, float) else str(v) for v in row) + " |")


if __name__ == "__main__":
    main()
