"""DVC at scale: the pipeline's bookkeeping against the work it drives.

1. The demo configuration (2 tasks x 2 models x 2 attempts) in a fresh clone: the first
   `dvc repro` (cold), then a no-op `dvc repro`, `dvc status` and `dvc exp show`.
2. A synthetic configuration (default 30 tasks x 4 models x 10 attempts, copies of the demo
   tasks and replay models) with every output in place (copied from one real attempt, recorded
   with `dvc commit`): no-op `dvc repro`, `dvc status`, `dvc exp show`. Targets: < 5 s, < 3 s, < 3 s.
3. With --full: a real `dvc repro` of a synthetic configuration (replay models, `jobs` attempts at
   once): wall time, the stages' own work and start-up (generated/logs/stages.jsonl), DVC's
   bookkeeping (the rest; target < 10 % with start-up), and the attempts' concurrency (the
   attempts' summed time over the agent stages' wall time).

Run: python bench/pipeline.py [--scale 30,4,10 | --scale ""] [--full 30,4,10] [--jobs 2]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
from cooperbench.generation.core.records import write_index  # noqa: E402

BIN = Path(sys.executable).parent
DEMOS = ("miniconf_task/task1", "durations_task/task1")


def run(args: list[str], cwd: Path, env: dict) -> float:
    started = time.perf_counter()
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"{' '.join(args)} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return time.perf_counter() - started


def environment(scratch: Path, project: Path) -> dict:
    return {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}", "DVC_NO_ANALYTICS": "1",
            "PYTHONPATH": str(project / "src"), "COOPERBENCH_CACHE": str(scratch / "cache"),
            "GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@b", "GIT_COMMITTER_NAME": "b", "GIT_COMMITTER_EMAIL": "b@b"}


def bookkeeping(project: Path, env: dict) -> str:
    noop = run([str(BIN / "dvc"), "repro"], project, env)
    status = run([str(BIN / "dvc"), "status"], project, env)
    show = run([str(BIN / "dvc"), "exp", "show", "--no-pager", "--md"], project, env)
    return f"no-op dvc repro {noop:.2f} s, dvc status {status:.2f} s, dvc exp show {show:.2f} s"


def synthetic(scratch: Path, name: str, tasks: int, models: int, attempts: int, jobs: int) -> Path:
    """A copy of this repository whose params name `tasks` copies of the demo tasks."""
    project = scratch / f"{name}-{tasks}x{models}x{attempts}"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(project)], check=True)
    names = []
    for i in range(1, tasks + 1):
        demo = DEMOS[i % 2]
        name = f"{demo.split('_task')[0]}scale_task/task{i}"
        shutil.copytree(project / "dataset" / demo, project / "dataset" / name)
        names.append(name)
    params = yaml.safe_load((project / "params.yaml").read_text())
    sessions = ["conflicting", "isolated"]
    params.update(tasks=names, attempts=attempts, jobs=jobs,
                  models={f"replay_{sessions[m % 2]}{m}": {"name": f"replay/{sessions[m % 2]}"} for m in range(models)})
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    (project / "dvc.lock").unlink(missing_ok=True)
    shutil.rmtree(project / "generated", ignore_errors=True)
    return project


def demo_of(task: str) -> str:
    """The demo task a synthetic task copies."""
    return next(d for d in DEMOS if task.startswith(d.split("_task")[0]))


def fill_outputs(project: Path, donor: Path) -> None:
    """Every attempt slot gets a copy of one real attempt's outputs, indexed as its stage would
    index them; the report is made for real."""
    params = yaml.safe_load((project / "params.yaml").read_text())
    model = next(iter(yaml.safe_load((donor / "params.yaml").read_text())["models"]))
    for kind in ("agent", "sessions", "split", "verdicts"):
        for slug in params["models"]:
            for task in params["tasks"]:
                source = donor / "generated" / kind / model / demo_of(task) / "attempt1"
                for k in range(1, params["attempts"] + 1):
                    shutil.copytree(source, project / "generated" / kind / slug / task / f"attempt{k}")
            write_index(project / "generated" / kind / slug, project / "generated" / "index" / kind / f"{slug}.json")
    for task in params["tasks"]:
        shutil.copytree(donor / "generated" / "prompts" / demo_of(task), project / "generated" / "prompts" / task)


def full_run(project: Path, env: dict) -> str:
    wall = run([str(BIN / "dvc"), "repro"], project, env)
    stages = [json.loads(line) for line in (project / "generated/logs/stages.jsonl").read_text().splitlines()]
    work = sum(s["work"] for s in stages)
    startup = sum(s["startup"] for s in stages)
    agent_wall = sum(s["work"] for s in stages if s["stage"].startswith("agent@"))
    spans = [json.loads(p.read_text())["seconds"] for p in (project / "generated/logs/agent").rglob("*.json")]
    return (f"{len(spans)} attempts in {len(stages)} stage runs: wall {wall:.0f} s; stage work {work:.0f} s, start-up "
            f"{startup:.1f} s, DVC bookkeeping {wall - work - startup:.1f} s -> bookkeeping + start-up "
            f"{100 * (wall - work) / wall:.1f} % of the wall time (target < 10 %); agent stages: {sum(spans):.0f} s of "
            f"attempts (sandbox and environment build included) in {agent_wall:.0f} s = {sum(spans) / agent_wall:.2f} "
            f"attempts at once")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scale", default="30,4,10")
    parser.add_argument("--full", default="")
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="cb-bench-pipeline-"))
    demo = scratch / "demo"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(demo)], check=True)
    env = environment(scratch, demo)
    cold = run([str(BIN / "dvc"), "repro"], demo, env)
    print(f"demo (2 x 2 x 2, 8 stages): fresh clone cold dvc repro {cold:.1f} s; {bookkeeping(demo, env)}")
    if args.scale:
        tasks, models, attempts = (int(x) for x in args.scale.split(","))
        project = synthetic(scratch, "filled", tasks, models, attempts, args.jobs)
        fill_outputs(project, demo)
        env = environment(scratch, project)
        run([str(BIN / "dvc"), "repro", "-s", "report"], project, env)  # the report over every copied attempt
        run([str(BIN / "dvc"), "commit", "-f"], project, env)
        stages = len(subprocess.run([str(BIN / "dvc"), "stage", "list", "--name-only"], cwd=project, env=env,
                                    capture_output=True, text=True).stdout.split())
        print(f"{tasks} x {models} x {attempts} ({tasks * models * attempts} attempts, {stages} stages), outputs in place: "
              f"{bookkeeping(project, env)} (targets: < 5 s, < 3 s, < 3 s)")
    if args.full:
        tasks, models, attempts = (int(x) for x in args.full.split(","))
        project = synthetic(scratch, "full", tasks, models, attempts, args.jobs)
        print(f"full run {tasks} x {models} x {attempts}, jobs {args.jobs}: {full_run(project, environment(scratch, project))}")
    shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
