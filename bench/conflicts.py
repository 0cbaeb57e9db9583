"""Conflict-engine speed against a plain loop of git processes, measured in one run.

For every task (the real ones in ../shared/real-tasks when present, the shipped ones, and
synthetic 12-feature tasks on a 2,000-file repository up to the public CooperBench volume of 652
pairs), the whole conflict matrix is computed twice: by the engine (conflicts/detect.py: patches
applied in process, every merge of a task in one `git merge-tree --stdin`) and by a plain loop
(per feature read-tree, apply, write-tree and commit-tree; per pair one `git merge-tree`; per
conflicting file one `git cat-file`, one after another). Both must give the same verdicts, files
and region counts; the ratio engine/loop is printed (target: under 0.3).

Run: python bench/conflicts.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import itertools
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from cooperbench.generation.conflicts.detect import conflict_matrix, source_only
from cooperbench.generation.patches.gitutil import FIXED_IDENTITY, run_git
from cooperbench.generation.tasks.task import Feature, Task, find_clone, load_dataset, resolve_repo, scan_dataset
from cooperbench.generation.util.owners import scratch_root

sys.path.insert(0, str(Path(__file__).resolve().parent))
from real_tasks import REAL, unpack_repos  # noqa: E402

FILES, FEATURES, LINES = 2000, 12, 60
TARGET_PAIRS = 652
TARGET_RATIO = 0.3


def plain_loop(task: Task, git_dir: Path, in_memory: bool = False) -> list[tuple]:
    """The matrix by one git process per step, one after another, new objects written to a
    scratch folder (the temp folder, or memory as the engine's) beside the repository's."""
    with tempfile.TemporaryDirectory(dir=scratch_root(in_memory)) as scratch:
        objects = run_git(["rev-parse", "--path-format=absolute", "--git-path", "objects"], git_dir).stdout.strip()
        env = {"GIT_OBJECT_DIRECTORY": scratch, "GIT_ALTERNATE_OBJECT_DIRECTORIES": objects,
               "GIT_INDEX_FILE": str(Path(scratch) / "index")}
        commits = {}
        for f in task.features:
            run_git(["read-tree", task.base_commit], git_dir, env=env)
            patch = source_only(f.feature_patch, "feature.patch", task.test_patterns)
            for flags in ([], ["--ignore-whitespace"], ["--3way"]):
                if run_git(["apply", "--cached", *flags, "-"], git_dir, input=patch, env=env, check=False).returncode == 0:
                    break
            tree = run_git(["write-tree", "--missing-ok"], git_dir, env=env).stdout.strip()
            commits[str(f.id)] = run_git(["commit-tree", tree, "-p", task.base_commit, "-m", f"feature{f.id}"],
                                         git_dir, env=env).stdout.strip()
        rows = []
        for a, b in itertools.combinations(commits, 2):
            proc = run_git(["merge-tree", "--write-tree", "--name-only", "--no-messages", commits[a], commits[b]],
                           git_dir, env=env, check=False)
            lines = proc.stdout.splitlines()
            files = sorted(set(line for line in lines[1:] if line))
            regions = sum(run_git(["cat-file", "-p", f"{lines[0]}:{path}"], git_dir, env=env, check=False)
                          .stdout.count("\n<<<<<<< ") for path in files) if proc.returncode == 1 else 0
            rows.append((a, b, proc.returncode == 1, files, regions))
        return rows


def engine(task: Task, git_dir: Path) -> list[tuple]:
    return [(r.f1, r.f2, r.has_conflict, r.files, r.regions) for r in conflict_matrix(task, git_dir)]


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


def measure(label: str, work: list[tuple[Task, Path]], rounds: int) -> float:
    """Each way, `rounds` times interleaved (best of each); exits non-zero on any difference."""
    ways = {"engine": engine, "loop": plain_loop, "loop in memory": lambda t, g: plain_loop(t, g, in_memory=True)}
    best = dict.fromkeys(ways, float("inf"))
    for _ in range(rounds):
        for name, way in ways.items():
            started = time.perf_counter()
            results = [way(task, git_dir) for task, git_dir in work]
            best[name] = min(best[name], time.perf_counter() - started)
            if name == "engine":
                expected = results
            elif results != expected:
                sys.exit(f"{label}: the engine and the plain loop disagree")
    pairs = sum(len(rows) for rows in expected)
    conflicting = sum(row[2] for rows in expected for row in rows)
    ratio = best["engine"] / best["loop"]
    print(f"{label}: {len(work)} tasks, {pairs} pairs ({conflicting} conflicting), same verdicts, files and regions")
    print(f"  engine {best['engine']:.2f} s ({best['engine'] / pairs * 1000:.1f} ms/pair), plain loop "
          f"{best['loop']:.2f} s ({best['loop'] / pairs * 1000:.1f} ms/pair): ratio {ratio:.2f} "
          f"(target under {TARGET_RATIO}: {'met' if ratio < TARGET_RATIO else 'MISSED'})")
    print(f"  the plain loop with its objects in memory too: {best['loop in memory']:.2f} s, "
          f"ratio {best['engine'] / best['loop in memory']:.2f}")
    sys.stdout.flush()
    return ratio


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if (REAL / "dataset").is_dir():
        repos = unpack_repos(Path(tempfile.gettempdir()) / "cooperbench-real-repos")
        tasks, _ = scan_dataset(REAL / "dataset")
        measure("real tasks", [(t, find_clone(t, repos)) for t in tasks], args.rounds)
    else:
        print(f"real tasks: {REAL} is absent, skipped")
    measure("shipped tasks", [(t, resolve_repo(t)) for t in load_dataset("dataset")], args.rounds)
    with tempfile.TemporaryDirectory() as scratch:
        git_dir, base = synthetic_repo(Path(scratch))
        rng = random.Random(7)
        tasks = []
        while len(tasks) * FEATURES * (FEATURES - 1) // 2 < TARGET_PAIRS:
            tasks.append(Task(Path(scratch), "synthetic_task", len(tasks), base, None,
                              tuple(synthetic_features(git_dir.parent, rng)), None))
        measure("synthetic (2,000 files)", [(t, git_dir) for t in tasks], args.rounds)


if __name__ == "__main__":
    main()
