"""Costs that grow no faster than the work: the time per candidate when 1, 4 and 16 distinct
candidates are validated against one task (the demo, local backend; environment, base run and
the existing features' own runs warm), two at a time as the validate stage runs them. Each
candidate is the valid demo candidate plus a source file of its own, so none finds another's
runs. The time per candidate must not grow with their number.

For the time per classified pair of `check-dataset --quality` on the real tasks, run
bench/conflict_classes.py.

Run: python bench/scaling.py
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from itertools import count
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CANDIDATE = ROOT / "tests" / "data" / "candidates" / "valid"
JOBS = 2


def main() -> None:
    cache = tempfile.mkdtemp(prefix="cb-bench-cache-")
    os.environ["COOPERBENCH_CACHE"] = cache
    try:
        measure()
    finally:
        shutil.rmtree(cache, ignore_errors=True)


def measure() -> None:
    from cooperbench.generation.pipeline.parallel import run_items
    from cooperbench.generation.schemas import ValidationSettings
    from cooperbench.generation.tasks.task import load_task, resolve_repo
    from cooperbench.generation.validation.candidate import validate_candidate

    task = load_task(ROOT / "dataset" / "miniconf_task" / "task1")
    git_dir, settings = resolve_repo(task), ValidationSettings()
    feature, tests = ((CANDIDATE / name).read_text() for name in ("feature.patch", "tests.patch"))
    numbers = count()

    def candidate() -> str:
        n = next(numbers)
        return feature + (f"diff --git a/miniconf/marker{n}.py b/miniconf/marker{n}.py\nnew file mode 100644\n"
                          f"--- /dev/null\n+++ b/miniconf/marker{n}.py\n@@ -0,0 +1 @@\n+MARKER = {n}\n")

    def validate(patch: str) -> None:
        verdict = validate_candidate(task, patch, tests, git_dir=git_dir, settings=settings)
        assert verdict["valid"], verdict["reasons"]

    validate(candidate())  # warm: the environment, the base run, the existing features' own runs
    per = {}
    for n in (1, 4, 16):
        patches = [candidate() for _ in range(n)]
        started = time.perf_counter()
        run_items(patches, validate, jobs=JOBS, name=lambda p: "candidate", what="validations")
        per[n] = (time.perf_counter() - started) / n
        print(f"{n:2d} candidates, {JOBS} at a time: {per[n]:.2f} s per candidate", flush=True)
    growth = per[16] / per[1]
    print(f"16 candidates over 1: {growth:.2f}x per candidate ({'does not grow' if growth <= 1.1 else 'GROWS'})")


if __name__ == "__main__":
    main()
