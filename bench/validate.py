"""Validation wall time: the demo's valid candidate on the local backend, cold (environment built)
and warm, then on docker when a daemon answers; and one real pytest feature (dspy task8394
feature 1 against the rest of its task) cold and warm, when ../shared/real-tasks is there.
Target: a real pytest feature, warm, under 10 s. Also prints what the guard costs there: warm
validation with the source watched over without, measured alternately in the same run.

Run: python bench/validate.py
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


def timed(call) -> tuple[float, bool]:
    started = time.perf_counter()
    verdict = call()
    return time.perf_counter() - started, verdict["valid"]


def demo(backend: str):
    from cooperbench.generation.grading.validate import ValidationSettings, validate_candidate
    from cooperbench.generation.tasks.task import load_task, resolve_repo

    task = load_task(ROOT / "dataset" / "miniconf_task" / "task1")
    return lambda: validate_candidate(task, (CANDIDATE / "feature.patch").read_text(), (CANDIDATE / "tests.patch").read_text(),
                                      git_dir=resolve_repo(task), settings=ValidationSettings(backend=backend))


def real_feature(scratch: Path):
    from cooperbench.generation.grading.selfcheck import check_feature
    from cooperbench.generation.schemas import ValidationSettings
    from cooperbench.generation.tasks.task import load_task

    tarball = REAL / "repos" / "stanfordnlp+dspy-3ded7a626651.tar.gz"
    subprocess.run(["tar", "-xzf", str(tarball), "-C", str(scratch)], check=True)
    subprocess.run(["git", "-C", str(scratch / "repo"), "reset", "-q", "--hard"], check=True)
    task = load_task(REAL / "dataset" / "dspy_task" / "task8394")
    return lambda: check_feature(task, 1, scratch / "repo" / ".git", ValidationSettings())


def main() -> None:
    cache = tempfile.mkdtemp(prefix="cb-bench-cache-")  # cold: nothing cached
    os.environ["COOPERBENCH_CACHE"] = cache
    try:
        measure()
    finally:  # environments built here take GBs: nothing stays
        shutil.rmtree(cache, ignore_errors=True)


def measure() -> None:
    run = demo("local")
    (cold, ok1), (warm, ok2) = timed(run), timed(run)
    print(f"demo, local    cold {cold:6.1f} s (environment built)   warm {warm:5.2f} s   valid={ok1 and ok2}")
    try:
        import docker

        docker.from_env().ping()
        run = demo("docker")
        (cold, ok1), (warm, ok2) = timed(run), timed(run)
        print(f"demo, docker   cold {cold:6.1f} s (environment image built)   warm {warm:5.2f} s   valid={ok1 and ok2}")
    except Exception:
        print("docker: no daemon answers (scripts/docker-setup.sh starts one); skipped")
    if not (REAL / "repos").is_dir():
        print(f"real tasks: {REAL} is absent; skipped")
        return
    run = real_feature(Path(tempfile.mkdtemp(prefix="cb-bench-dspy-")))
    (cold, ok1), (warm, ok2) = timed(run), timed(run)
    print(f"dspy task8394 feature 1 against the rest, local   cold {cold:6.1f} s (environment built)   "
          f"warm {warm:5.2f} s   valid={ok1 and ok2}   (target: warm under 10 s: {'met' if warm < 10 else 'MISSED'})")
    print(f"the guard's cost: {guard_ratio(run):.2f}x (warm validation with the guard watching the source, over without)")


def guard_ratio(run) -> float:
    """Warm validation with the guard over without it, measured alternately in one run (the
    features' own runs are cached per process, so both sides time the same four runs)."""
    from cooperbench.generation.grading import tamper

    watching = tamper.guard_config
    times = {True: [], False: []}
    for on in (False, True, False, True):
        tamper.guard_config = watching if on else (lambda *args: {"watch": [], "hooks_allowed": []})
        try:
            times[on].append(timed(run)[0])
        finally:
            tamper.guard_config = watching
    return min(times[True]) / min(times[False])


if __name__ == "__main__":
    main()
