"""What every stage shares: its declaration (Stage: what dvc.yaml gives it, pipeline/dvcfile.py
writes dvc.yaml from these), params.yaml as declared, the tasks it names (checked against what
their prompts were made from), their repositories, the attempts, the output indexes, and the
skeleton that runs it (`main`: the one-line error on failure)."""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

from cooperbench.generation.core.layout import GENERATED, PARAMS, AttemptPaths
from cooperbench.generation.core.records import check_index, digest_folder, write_index
from cooperbench.generation.errors import GenerationError
from cooperbench.generation.schemas import Params, read_yaml
from cooperbench.generation.tasks.task import Task, load_task, resolve_repo, source_repo
from cooperbench.generation.util import atomic
from cooperbench.generation.util.environment import prepare_environment

DATASET = Path("dataset")
ONBOARDED = GENERATED / "onboard"  # the onboard stage's tasks: <name>_task/task<K>/, beside dataset/'s
ONBOARDED_TASKS = ONBOARDED / "tasks.json"  # the onboard stage's list: repository name -> its task names
PROMPTS = GENERATED / "prompts"
LOGS = GENERATED / "logs"  # timings and output tails: git-ignored, never a DVC output
FAILURES = LOGS / "failures"  # <stage>@<model>.json: a stage's last error, until it next ends well
INDEX = GENERATED / "index"  # per stage and model: the digest of every file it wrote
TASK_PARAMS = ("tasks", "onboard.repos", "onboard.grow")  # what task_names reads
TASK_INPUTS = "inputs.json"  # in each task's prompt folder: the digest of the task's files


def load_params(path: Path = PARAMS) -> Params:
    return read_yaml(path, Params)


def onboarded_names(params: Params) -> list[str]:
    """The tasks the onboard stage made for the repositories params.yaml names, in order."""
    if not params.onboard.repos:
        return []
    try:
        listed = json.loads(ONBOARDED_TASKS.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise GenerationError(f"{ONBOARDED_TASKS}: missing or unreadable; run `dvc repro`, which onboards first") from None
    return [name for repo in params.onboard.repos for name in listed.get(repo, [])]


def task_names(params: Params) -> list[str]:
    """Every task the stages work on: params.yaml's `tasks`, and the onboarded ones with `onboard.grow`."""
    onboarded = onboarded_names(params) if params.onboard.grow else []
    return list(params.tasks) + [name for name in onboarded if name not in params.tasks]


def task_folder(name: str, path: Path = PARAMS) -> Path:
    """dataset/<name>, or the onboarded task of that name; never both."""
    found = [root / name for root in (DATASET, ONBOARDED) if (root / name).is_dir()]
    if len(found) > 1:
        raise GenerationError(f"{path}: task {name} is both in {DATASET}/ and onboarded in {ONBOARDED}/: rename one")
    if not found:
        raise GenerationError(f"{path}: task {name} does not exist under {DATASET}/ (nor onboarded in {ONBOARDED}/)")
    return found[0]


def load_tasks(params: Params, path: Path = PARAMS) -> dict[str, Task]:
    return {name: load_task(task_folder(name, path)) for name in task_names(params)}


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
            raise GenerationError(f"{task.path}: changed since its prompt was made; "
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
    """The task's repository: shipped, the clone `repos:` in params.yaml names for it, or, for an
    onboarded task, the repository it was onboarded from."""
    clone = params.repos.get(task.name)
    source = params.onboard.repos.get(task.repo_name.removesuffix("_task"))
    if not clone and source and task.path.resolve().is_relative_to(ONBOARDED.resolve()):
        return resolve_repo(task, source_repo(Path(source.path)))
    return resolve_repo(task, Path(clone) if clone else None)


def attempts(params: Params, slug: str) -> Iterator[tuple[str, int, AttemptPaths]]:
    """Every (task, attempt number, paths) of one model, in order."""
    for task in task_names(params):
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
    """One line per stage run in generated/logs/stages.jsonl (timings: never a DVC output); a
    stage that ends well has no failure on record."""
    LOGS.mkdir(parents=True, exist_ok=True)
    with open(LOGS / "stages.jsonl", "a", encoding="utf-8") as handle:
        handle.write(json.dumps({"stage": name, "startup": round(startup, 3), "work": round(work, 3)}) + "\n")
    (FAILURES / f"{name}.json").unlink(missing_ok=True)


def log_failure(name: str, error: str) -> None:
    """A stage's last failure, until it next ends well: the partial report names it."""
    atomic.write_json(FAILURES / f"{name}.json", {"stage": name, "error": error})


def model_failures(slug: str) -> dict[str, str]:
    """The stages of one model that failed last time they ran: stage -> its error."""
    found = {}
    for file in sorted(FAILURES.glob(f"*@{slug}.json")):
        record = json.loads(file.read_text(encoding="utf-8"))
        found[record["stage"]] = record["error"]
    return found


@dataclass(frozen=True)
class Stage:
    """A DVC stage as dvc.yaml declares it. `params` are the params.yaml keys its results depend
    on (`models.${key}`: its own model's entry); `reads` are keys it may read that cannot change a
    result (how many at once, retries). The stage reads params.yaml through `Declared`, so it
    cannot depend on a key dvc.yaml does not give it."""

    name: str
    desc: str
    params: tuple[str, ...]
    deps: tuple[str, ...] = ()  # data it reads (`${key}`: its model's slug)
    outs: tuple[str, ...] = ()
    persist: tuple[str, ...] = ()  # outs kept across runs (per-attempt records), DVC's `persist`
    metrics: tuple[str, ...] = ()
    cache: bool = True  # False: outputs kept in git, not in DVC's cache (the report)
    per_model: bool = False  # one stage per model (`foreach: ${models}`)
    reads: tuple[str, ...] = ()


class Declared:
    """params.yaml as one stage declared it: reading a key it did not declare is our bug, named
    (the key would be missing from dvc.yaml, and a change to it would not rerun the stage)."""

    def __init__(self, value: Any, allowed: frozenset[str], stage: str, prefix: str = ""):
        self._value, self._allowed, self._stage, self._prefix = value, allowed, stage, prefix

    def _read(self, name: str, value: Any) -> Any:
        path = self._prefix + name
        if any(path == key or path.startswith(key + ".") for key in self._allowed):
            return value
        if any(key.startswith(path + ".") for key in self._allowed):
            return Declared(value, self._allowed, self._stage, path + ".")
        raise GenerationError(f"stage {self._stage} reads params.yaml `{path}`, which it does not declare "
                              f"(ours: add it to STAGE in pipeline/{self._stage}.py, then write dvc.yaml)")

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return self._read(name, getattr(self._value, name))

    def __getitem__(self, key: str) -> Any:
        return self._read(str(key), self._value[key])

    def __contains__(self, key: str) -> bool:
        return key in self._value


def declared_params(stage: Stage, slug: str | None = None, path: Path = PARAMS) -> Params:
    """params.yaml as `stage` may read it (for `slug`, a per-model stage's model)."""
    params = load_params(path)
    if stage.per_model and slug is None:
        raise GenerationError(f"stages/{stage.name}.py: name a model (one of {', '.join(params.models)})")
    if stage.per_model and slug not in params.models:
        raise GenerationError(f"{path}: no model `{slug}` under `models`")
    keys = [key.replace("${key}", slug or "") for key in stage.params + stage.reads]
    return Declared(params, frozenset(keys), stage.name)  # type: ignore[return-value]


def main(stage: Stage, run: Callable[..., None], *args: str) -> None:
    """The skeleton of stages/*.py: params.yaml as `stage` declares it (None: it declares no key),
    then `run(params, *args)`.
    An error is one line on stderr and exit code 1; Ctrl-C exits 130 (sandboxes closed, nothing
    half-written). Start-up and work times go to the stage log."""
    startup, started = process_age(), time.monotonic()
    prepare_environment()
    try:
        run(declared_params(stage, *args[:1]) if stage.params or stage.reads else None, *args)
        log_stage("@".join([stage.name, *args]), startup, time.monotonic() - started)
    except GenerationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        log_failure("@".join([stage.name, *args]), str(exc))
        sys.exit(1)
    except KeyboardInterrupt:
        print("interrupted: sandboxes closed, nothing half-written", file=sys.stderr)
        sys.exit(130)
