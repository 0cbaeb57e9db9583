"""Conflict-engine speed: the shipped tasks' full matrices, and synthetic 12-feature tasks on a
2,000-file repository, up to the public CooperBench volume (652 pairs; 240 s there with 75 cloud
sandboxes). Prints time per pair and per task. Run: python bench/conflicts.py"""

from __future__ import annotations

import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from cooperbench.generation.conflicts.merge import conflict_matrix
from cooperbench.generation.patches.gitutil import FIXED_IDENTITY
from cooperbench.generation.tasks.task import Feature, Task, load_dataset, resolve_repo

FILES, FEATURES, LINES = 2000, 12, 60
TARGET_PAIRS = 652


def synthetic_repo(root: Path) -> tuple[Path, str]:
    """2,000 Python files of 60 lines, committed."""
    work = root / "repo"
    for i in range(FILES):
        path = work / f"pkg{i % 40}" / f"mod{i}.py"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(f"def f{i}_{n}(x):\n    return x + {n}\n\n" for n in range(LINES // 3)))
    env = {**FIXED_IDENTITY, "PATH": "/usr/bin:/bin", "HOME": str(root)}
    run = lambda *args: subprocess.run(["git", *args], cwd=work, env=env, check=True, capture_output=True, text=True).stdout
    run("init", "-q")
    run("add", "-A")
    run("commit", "-qm", "base")
    return work / ".git", run("rev-parse", "HEAD").strip()


def synthetic_features(work: Path, rng: random.Random) -> list[Feature]:
    """Each feature edits 3 of 5 shared files, in one of their first 4 functions: most pairs
    overlap somewhere, as in the public set (499 of 652 pairs conflict)."""
    shared = [f"pkg{i % 40}/mod{i}.py" for i in rng.sample(range(FILES), 5)]
    features = []
    for fid in range(1, FEATURES + 1):
        chunks = []
        for path in sorted(rng.sample(shared, 3)):
            original = (work / path).read_text().splitlines(keepends=True)
            changed = list(original)
            line = rng.randrange(0, 12, 3) + 1  # the `return` line of one of the first 4 functions
            changed[line] = changed[line].replace("return x +", f"return x * {fid} +")
            (work / path).write_text("".join(changed))
            chunks.append(subprocess.run(["git", "diff", "--", path], cwd=work, capture_output=True, text=True).stdout)
            (work / path).write_text("".join(original))
        features.append(Feature(fid, work, f"**Title**: synthetic {fid}", "".join(chunks), ""))
    return features


def main() -> None:
    print("shipped tasks")
    for task in load_dataset("dataset"):
        git_dir = resolve_repo(task)
        started = time.perf_counter()
        results = conflict_matrix(task, git_dir)
        elapsed = time.perf_counter() - started
        print(f"  {task.name}: {len(results)} pairs in {elapsed * 1000:.0f} ms ({elapsed / len(results) * 1000:.1f} ms/pair)")

    with tempfile.TemporaryDirectory() as scratch:
        started = time.perf_counter()
        git_dir, base = synthetic_repo(Path(scratch))
        print(f"synthetic repository: {FILES} files, made in {time.perf_counter() - started:.1f} s")
        rng = random.Random(7)
        tasks = []
        while len(tasks) * FEATURES * (FEATURES - 1) // 2 < TARGET_PAIRS:
            features = synthetic_features(git_dir.parent, rng)
            tasks.append(Task(Path(scratch), "synthetic_task", len(tasks), base, None, tuple(features), None))
        pairs = conflicting = 0
        started = time.perf_counter()
        for task in tasks:
            results = conflict_matrix(task, git_dir)
            pairs += len(results)
            conflicting += sum(r.has_conflict for r in results)
        elapsed = time.perf_counter() - started
        print(f"synthetic: {len(tasks)} tasks x {FEATURES} features = {pairs} pairs ({conflicting} conflicting)")
        print(f"  total {elapsed:.2f} s; {elapsed / len(tasks) * 1000:.0f} ms per task; {elapsed / pairs * 1000:.2f} ms per pair")
        print(f"  target: {TARGET_PAIRS} pairs under 5 s -> {'met' if elapsed < 5 else 'MISSED'}")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
