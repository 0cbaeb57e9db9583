"""What cooperbench-verify adds to an agent's run: one step per call, and its time. Measured on
a real pytest task (dspy task8394: feature 1's work, source, tests and description, in an agent's
sandbox, checked against the rest of the task), cold (environment built, base and features' runs
made) and warm (the next call of the run), and on the demo task for comparison.

Run: python bench/verify.py
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REAL = Path(os.environ.get("COOPERBENCH_REAL_TASKS") or ROOT.parent / "shared" / "real-tasks")


def measure(task, git_dir: Path, feature_id: int, label: str) -> None:
    """Feature `feature_id` written into an agent's sandbox, checked twice against the rest."""
    from cooperbench.generation.agent.verify import verifier_for
    from cooperbench.generation.core.contract import DESCRIPTION_FILE, PATCHES_DIR
    from cooperbench.generation.sandbox.backends import open_sandbox
    from cooperbench.generation.schemas import AgentSettings
    from cooperbench.generation.validation.selfcheck import without

    feature, rest = task.feature(feature_id), without(task, feature_id)
    verify = verifier_for(rest, git_dir, AgentSettings.of("replay/none"), "local")
    with open_sandbox(rest, "local", git_dir) as sandbox:
        for name, text in (("f.patch", feature.feature_patch), ("t.patch", feature.tests_patch)):
            sandbox.write_file(f"{PATCHES_DIR}/{name}", text.encode())
        sandbox.write_file(DESCRIPTION_FILE, feature.description.encode())
        applied = sandbox.run(f"git apply {PATCHES_DIR}/f.patch {PATCHES_DIR}/t.patch", timeout=60)
        assert applied.ok, applied.stderr
        times = []
        for _ in range(2):
            started = time.perf_counter()
            answer = verify(sandbox, [])
            times.append(time.perf_counter() - started)
    print(f"{label}: cooperbench-verify cold {times[0]:6.1f} s   warm {times[1]:5.1f} s   "
          f"(1 agent step per call)   {answer.splitlines()[0].split(': ', 1)[1].split(' (')[0]}")
    print("  " + "\n  ".join(answer.splitlines()[1:4]))


def main() -> None:
    from cooperbench.generation.tasks.task import load_task, resolve_repo

    cache = tempfile.mkdtemp(prefix="cb-bench-cache-")
    os.environ["COOPERBENCH_CACHE"] = cache
    try:
        demo = load_task(ROOT / "dataset" / "miniconf_task" / "task1")
        measure(demo, resolve_repo(demo), 2, "demo miniconf feature 2 vs the rest")
        if not (REAL / "repos").is_dir():
            print(f"real tasks: {REAL} is absent; skipped")
            return
        scratch = Path(tempfile.mkdtemp(prefix="cb-bench-dspy-"))
        tarball = REAL / "repos" / "stanfordnlp+dspy-3ded7a626651.tar.gz"
        subprocess.run(["tar", "-xzf", str(tarball), "-C", str(scratch)], check=True)
        subprocess.run(["git", "-C", str(scratch / "repo"), "reset", "-q", "--hard"], check=True)
        task = load_task(REAL / "dataset" / "dspy_task" / "task8394")
        measure(task, scratch / "repo" / ".git", 1, "dspy task8394 feature 1 vs the rest")
        shutil.rmtree(scratch, ignore_errors=True)
    finally:
        shutil.rmtree(cache, ignore_errors=True)


if __name__ == "__main__":
    main()
