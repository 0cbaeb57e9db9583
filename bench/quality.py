"""What the quality checks cost per valid feature, in one process: the first runs of a candidate
(before, after, feature: 3 runs, the base already kept), its reruns to `validation.reruns: 3` (6
more runs, pytest's in shuffled orders) and the part check (a run per file or hunk of
feature.patch), each timed with no run of the candidate kept. On the demo's valid candidate (3
hunks) and, where ../shared is present, on dspy task8394 feature 1 against the rest of its task
(its one file plus a module no test imports: 2 parts). The judge and the solver teams cost what
their models cost (one completion; two agent sessions and two test runs a pair): their replays
cost nothing.

Run: python bench/quality.py
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CANDIDATE = ROOT / "tests" / "data" / "candidates" / "valid"
REAL = Path(os.environ.get("COOPERBENCH_REAL_TASKS") or ROOT.parent / "shared" / "real-tasks")
UNUSED = ("diff --git a/dspy/bench_unused.py b/dspy/bench_unused.py\nnew file mode 100644\n"
          "--- /dev/null\n+++ b/dspy/bench_unused.py\n@@ -0,0 +1 @@\n+UNUSED = 1\n")


def measure(name: str, task, git_dir: Path, feature_patch: str, tests_patch: str) -> None:
    from cooperbench.generation.grading import runcache
    from cooperbench.generation.grading.baseline import base_run
    from cooperbench.generation.grading.grade import Reasons, judge_runs, touched_tests
    from cooperbench.generation.schemas import ValidationSettings
    from cooperbench.generation.validation.candidate import needed_parts, rerun_all, run_all

    settings = ValidationSettings.of(reruns=3)
    base_run(task, git_dir, settings)  # the environment and the base's 3 runs: once per environment, not per feature
    found = runcache.lookup
    runcache.lookup = lambda key, label: None  # the candidate's runs are run, not found
    try:
        started = time.perf_counter()
        base, before, after, feature, _ = run_all(task, git_dir, feature_patch, tests_patch, settings)
        first = time.perf_counter() - started
        started = time.perf_counter()
        rerun_all(task, git_dir, feature_patch, tests_patch, settings, {"before": before, "after": after, "feature": feature})
        reruns = time.perf_counter() - started
        reasons = Reasons()
        fail_to_pass, _ = judge_runs(base, before, after, feature, touched_tests(tests_patch), reasons)
        started = time.perf_counter()
        parts = needed_parts(task, git_dir, feature_patch, tests_patch, settings, fail_to_pass["tests"])
        part_check = time.perf_counter() - started
    finally:
        runcache.lookup = found
    load = os.getloadavg()[0]
    print(f"{name}: first runs {first:.1f} s; reruns to 3 {reruns:.1f} s ({reruns / first:.2f}x the first runs); "
          f"part check {part_check:.1f} s for {len(parts['parts'])} parts ({part_check / first:.2f}x; unneeded: "
          f"{', '.join(parts['unneeded']) or 'none'}); valid so far: {not reasons}   (load {load:.2f})")


def main() -> None:
    from cooperbench.generation import load_task
    from cooperbench.generation.tasks.task import resolve_repo
    from cooperbench.generation.validation.selfcheck import without

    cache = tempfile.mkdtemp(prefix="cb-bench-cache-")
    os.environ["COOPERBENCH_CACHE"] = cache
    try:
        demo = load_task(ROOT / "dataset" / "miniconf_task" / "task1")
        measure("demo candidate (3 hunks)", demo, resolve_repo(demo), (CANDIDATE / "feature.patch").read_text(),
                (CANDIDATE / "tests.patch").read_text())
        if (REAL / "repos").is_dir():
            scratch = Path(tempfile.mkdtemp(prefix="cb-bench-dspy-"))
            subprocess.run(["tar", "-xzf", str(REAL / "repos" / "stanfordnlp+dspy-3ded7a626651.tar.gz"), "-C", str(scratch)],
                           check=True)
            subprocess.run(["git", "-C", str(scratch / "repo"), "reset", "-q", "--hard"], check=True)
            task = load_task(REAL / "dataset" / "dspy_task" / "task8394")
            feature = task.feature(1)
            measure("dspy task8394 feature 1 (+ an unused module: 2 parts)", without(task, 1), scratch / "repo" / ".git",
                    feature.feature_patch + UNUSED, feature.tests_patch)
            shutil.rmtree(scratch, ignore_errors=True)
        else:
            print(f"real tasks: {REAL} is absent; skipped")
    finally:
        shutil.rmtree(cache, ignore_errors=True)


if __name__ == "__main__":
    main()
