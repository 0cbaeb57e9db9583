"""Validation wall time of the demo's valid candidate: local backend cold (its venv built) and
warm (venv reused), and docker warm (container start included) when a daemon answers, and
docker cold (image rebuilt) with --docker-cold. Target: local warm under 10 s.
Run: python bench/validate.py [--docker-cold]"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CANDIDATE = ROOT / "tests" / "data" / "candidates" / "valid"


def timed_validation(backend: str) -> tuple[float, bool]:
    from cooperbench.generation.task import load_task, resolve_repo
    from cooperbench.generation.validator import ValidationSettings, validate_candidate

    task = load_task(ROOT / "dataset" / "miniconf_task" / "task1")
    started = time.perf_counter()
    verdict = validate_candidate(
        task, (CANDIDATE / "feature.patch").read_text(), (CANDIDATE / "tests.patch").read_text(),
        git_dir=resolve_repo(task), settings=ValidationSettings(backend=backend),
    )
    return time.perf_counter() - started, verdict["valid"]


def main() -> None:
    os.environ["COOPERBENCH_CACHE"] = tempfile.mkdtemp(prefix="cb-bench-cache-")  # cold: nothing cached
    cold, ok1 = timed_validation("local")
    warm, ok2 = timed_validation("local")
    print(f"local  cold {cold:6.2f} s (venv built)   warm {warm:6.2f} s (venv reused)   valid={ok1 and ok2}")
    print(f"  target: warm under 10 s -> {'met' if warm < 10 else 'MISSED'}")
    try:
        import docker

        client = docker.from_env()
        client.ping()
    except Exception:
        print("docker: no daemon answers (scripts/docker-setup.sh starts one); skipped")
        return
    if "--docker-cold" in sys.argv:
        from cooperbench.generation.task import load_task

        image = load_task(ROOT / "dataset" / "miniconf_task" / "task1").image
        try:
            client.images.remove(image, force=True)
        except Exception:
            pass
        cold, ok = timed_validation("docker")
        print(f"docker cold {cold:6.2f} s (image built from the task's Dockerfile)   valid={ok}")
    warm, ok = timed_validation("docker")
    print(f"docker warm {warm:6.2f} s (two containers started and removed)   valid={ok}")


if __name__ == "__main__":
    main()
