"""What every stage shares: params.yaml, the tasks it names (checked against what their prompts
were made from), their repositories, the attempts, the output indexes, and the one-line error
on failure."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Callable, Iterator

from cooperbench.generation.errors import GenerationError
from cooperbench.generation.pipeline.layout import GENERATED, AttemptPaths
from cooperbench.generation.pipeline.records import check_index, digest_folder, write_index
from cooperbench.generation.schemas import Params, read_yaml
from cooperbench.generation.tasks.task import Task, load_task, resolve_repo

PARAMS = Path("params.yaml")
DATASET = Path("dataset")
PROMPTS = GENERATED / "prompts"
LOGS = GENERATED / "logs"  # timings and output tails: git-ignored, never a DVC output
INDEX = GENERATED / "index"  # per stage and model: the digest of every file it wrote
TASK_INPUTS = "inputs.json"  # in each task's prompt folder: the digest of the task's files


def load_params(path: Path = PARAMS) -> Params:
    return read_yaml(path, Params)


def load_tasks(params: Params, path: Path = PARAMS) -> dict[str, Task]:
    tasks = {}
    for name in params.tasks:
        if not (DATASET / name).is_dir():
            raise GenerationError(f"{path}: task {name} does not exist under {DATASET}/")
        tasks[name] = load_task(DATASET / name)
    return tasks


def task_digest(name: str) -> str:
    """The digest of dataset/<name> that its prompt was made from."""
    recorded = PROMPTS / name / TASK_INPUTS
    try:
        return json.loads(recorded.read_text(encoding="utf-8"))["task_files"]
    except (OSError, ValueError, KeyError, TypeError):
        raise GenerationError(f"{recorded}: missing or unreadable; run `dvc repro`, which makes the prompt first") from None


def checked_tasks(params: Params) -> dict[str, Task]:
    """The tasks, each as its prompt saw it. Stages after `prompt` depend on generated/prompts
    rather than on dataset/ (one folder hashed once, not once per stage), so they refuse a task
    whose files changed since: the digest in its prompt folder must be the task's digest now."""
    tasks = load_tasks(params)
    for name, task in tasks.items():
        if task_digest(name) != digest_folder(task.path):
            raise GenerationError(f"{DATASET / name}: changed since its prompt was made; "
                                  f"run `dvc repro`, which makes the prompt first")
    return tasks


def index_path(kind: str, slug: str) -> Path:
    return INDEX / kind / f"{slug}.json"


def publish_index(kind: str, slug: str) -> None:
    write_index(GENERATED / kind / slug, index_path(kind, slug))


def check_inputs(slug: str, *kinds: str) -> None:
    """The upstream outputs of one model are exactly what their stages recorded."""
    for kind in kinds:
        check_index(GENERATED / kind / slug, index_path(kind, slug))


def git_dir_for(params: Params, task: Task) -> Path:
    """The task's repository: shipped, or the clone `repos:` in params.yaml names for it."""
    clone = params.repos.get(task.name)
    return resolve_repo(task, Path(clone) if clone else None)


def attempts(params: Params, slug: str) -> Iterator[tuple[str, int, AttemptPaths]]:
    """Every (task, attempt number, paths) of one model, in order."""
    for task in params.tasks:
        for k in range(1, params.attempts + 1):
            yield task, k, AttemptPaths.pipeline(slug, task, k)


def process_age() -> float:
    """Seconds since this process started (its interpreter start-up and imports, when asked first)."""
    try:
        ticks = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])
        boot = next(int(line.split()[1]) for line in Path("/proc/stat").read_text().splitlines() if line.startswith("btime"))
        return time.time() - (boot + ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, StopIteration):
        return 0.0


def log_stage(name: str, startup: float, work: float) -> None:
    """One line per stage run in generated/logs/stages.jsonl (timings: never a DVC output)."""
    LOGS.mkdir(parents=True, exist_ok=True)
    with open(LOGS / "stages.jsonl", "a", encoding="utf-8") as handle:
        handle.write(json.dumps({"stage": name, "startup": round(startup, 3), "work": round(work, 3)}) + "\n")


def main(function: Callable[..., None], *args: str) -> None:
    """Entry of stages/*.py: an error is one line on stderr and exit code 1; Ctrl-C exits 130
    (sandboxes closed, nothing half-written). Start-up and work times go to the stage log."""
    startup, started = process_age(), time.monotonic()
    try:
        function(*args)
        log_stage("@".join([function.__module__.rsplit(".", 1)[-1], *args]), startup, time.monotonic() - started)
    except GenerationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        print("interrupted: sandboxes closed, nothing half-written", file=sys.stderr)
        sys.exit(130)
