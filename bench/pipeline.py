"""DVC pipeline timings on the demo configuration: `dvc repro` in a fresh clone (cold: empty DVC
cache and venv cache) and a no-op `dvc repro` (warm; target under 3 s), then the overhead each
stage adds over calling the library directly (`dvc repro -f -s <stage>` vs the same step
in-process). Run from the repository root: python bench/pipeline.py"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
TASK, MODEL = "miniconf_task/task1", "replay_conflicting"


def timed(args: list[str], cwd: Path, env: dict) -> float:
    started = time.perf_counter()
    subprocess.run(args, cwd=cwd, env=env, check=True, capture_output=True)
    return time.perf_counter() - started


def direct_steps(clone: Path) -> dict[str, float]:
    """The same four steps, called in this process (imports already paid)."""
    os.chdir(clone)
    from cooperbench.generation import pipeline

    steps = (
        ("prompt", lambda: pipeline.stage_prompt(TASK)),
        ("agent", lambda: pipeline.stage_agent(TASK, MODEL, 1)),
        ("split", lambda: pipeline.stage_split(TASK, MODEL, 1)),
        ("validate", lambda: pipeline.stage_validate(TASK, MODEL, 1)),
    )
    for _, call in steps:  # warm-up round: imports (litellm takes seconds) and caches paid here
        call()
    times = {}
    for name, call in steps:
        started = time.perf_counter()
        call()
        times[name] = time.perf_counter() - started
    return times


def main() -> None:
    scratch = Path(tempfile.mkdtemp(prefix="cb-bench-pipeline-"))
    clone = scratch / "clone"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    env = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}", "DVC_NO_ANALYTICS": "1",
           "PYTHONPATH": str(clone / "src"), "COOPERBENCH_CACHE": str(scratch / "cache")}
    os.environ.update(COOPERBENCH_CACHE=env["COOPERBENCH_CACHE"], PYTHONPATH=env["PYTHONPATH"])
    cold = timed([str(BIN / "dvc"), "repro"], clone, env)
    warm = timed([str(BIN / "dvc"), "repro"], clone, env)
    print(f"dvc repro, fresh clone (cold: venv built, nothing cached): {cold:6.1f} s")
    print(f"dvc repro, nothing changed (warm):                        {warm:6.2f} s  (target under 3 s: "
          f"{'met' if warm < 3 else 'MISSED'})")
    staged = {name: timed([str(BIN / "dvc"), "repro", "-f", "-s", stage], clone, env) for name, stage in (
        ("prompt", f"prompt@{TASK}"),
        ("agent", f"agent@{TASK}-{MODEL}-1"),
        ("split", f"split@{TASK}-{MODEL}-1"),
        ("validate", f"validate@{TASK}-{MODEL}-1"),
    )}
    direct = direct_steps(clone)
    print("stage overhead (dvc repro -f -s <stage>, minus the same step called in-process):")
    for name in staged:
        print(f"  {name:<9} stage {staged[name]:5.2f} s   direct {direct[name]:5.2f} s   overhead {staged[name] - direct[name]:5.2f} s")


if __name__ == "__main__":
    main()
