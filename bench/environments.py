"""Environment builds of one repository's tasks: what the shared package cache saves, and what a
cold environment costs (time, size on disk).

In one run, each in a fresh cache: the second task's environment built alone (nothing cached),
then the first task's and the second's built one after the other (the second finds the packages
and source-built wheels the first left in the repository's pip/uv cache).

Run: python bench/environments.py [--first dspy_task/task8563] [--second dspy_task/task8635]
     (COOPERBENCH_REAL_TASKS moves the data folder)
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REAL = Path(os.environ.get("COOPERBENCH_REAL_TASKS") or ROOT.parent / "shared" / "real-tasks")


def size(folder: Path) -> float:
    """GB on disk."""
    out = subprocess.run(["du", "-sb", str(folder)], capture_output=True, text=True).stdout.split()
    return int(out[0]) / 1e9 if out else 0.0


def build(task_name: str, repos: Path) -> tuple[float, Path]:
    """Seconds to build the task's local environment in the current cache, and its folder."""
    from cooperbench.generation.sandbox.local_backend import ensure_environment
    from cooperbench.generation.tasks.task import find_clone, load_task

    task = load_task(REAL / "dataset" / task_name)
    started = time.perf_counter()
    folder = ensure_environment(task, find_clone(task, repos))
    return time.perf_counter() - started, folder


SCRATCH: list[Path] = []  # removed at the end: a big repository's environments take tens of GB


def fresh_cache() -> Path:
    cache = Path(tempfile.mkdtemp(prefix="cb-bench-envs-"))
    SCRATCH.append(cache)
    os.environ["COOPERBENCH_CACHE"] = str(cache)
    return cache


def main() -> None:
    try:
        measure()
    finally:
        for folder in SCRATCH:
            shutil.rmtree(folder, ignore_errors=True)


def measure() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--first", default="dspy_task/task8563")
    parser.add_argument("--second", default="dspy_task/task8635")
    args = parser.parse_args()
    repos = Path(tempfile.mkdtemp(prefix="cb-bench-repos-"))
    SCRATCH.append(repos)
    for tarball in sorted((REAL / "repos").glob("*.tar.gz")):
        target = repos / tarball.name.removesuffix(".tar.gz")
        target.mkdir()
        subprocess.run(["tar", "-xzf", str(tarball), "-C", str(target)], check=True)
        subprocess.run(["git", "-C", str(target / "repo"), "reset", "-q", "--hard"], check=True)
    fresh_cache()
    alone, folder = build(args.second, repos)
    print(f"{args.second} alone, cold:   {alone:6.1f} s, environment {size(folder):.2f} GB")
    cache = fresh_cache()
    first, first_folder = build(args.first, repos)
    after, folder = build(args.second, repos)
    packages = size(cache / "packages")
    print(f"{args.first} cold:           {first:6.1f} s, environment {size(first_folder):.2f} GB")
    print(f"{args.second} after it:       {after:6.1f} s, environment {size(folder):.2f} GB "
          f"(shared package cache {packages:.2f} GB)")
    print(f"the shared cache saves {alone - after:.1f} s of {alone:.1f} s ({(alone - after) / alone:.0%}) on the second task")


if __name__ == "__main__":
    main()
