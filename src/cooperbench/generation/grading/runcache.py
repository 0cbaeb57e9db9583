"""Test runs kept across processes, under a key of everything that can change them: the task's
environment as built (its id on the backend: the image, the plan, the runner), the backend, the
network, the patches given in order, the guard's watch list, a rerun's test order, and the
grader's code version. Validations in any process (check-feature, check-dataset, verify, the
stages) then share the base run, each feature's own run and any run they repeat.

The timeout is not in the key: a kept run finished, so it is kept for any timeout at least as long
as it took (the agent's cooperbench-verify, bounded by the command timeout, and the verdict,
bounded by validation.timeout, share their runs); it is shown with the timeout asked. A run that
timed out or hit a limit is not kept: the machine's load may have made it. Nothing a sandbox runs
can write here: the host writes the record it parsed. Modal keeps none (its image ids are the
server's, known only once a sandbox starts) but for the process's life."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace
from pathlib import Path

from cooperbench.generation.core.cache import cache_root
from cooperbench.generation.core.codeversion import code_version
from cooperbench.generation.grading import testrun
from cooperbench.generation.sandbox.backends import environment_id, open_sandbox
from cooperbench.generation.schemas import ValidationSettings
from cooperbench.generation.tasks.environment import build_lock
from cooperbench.generation.tasks.task import Task
from cooperbench.generation.util import atomic


@dataclass(frozen=True)
class RunKey:
    digest: str
    durable: bool  # kept on disk; else in this process only (the environment has no id before a sandbox starts)
    timeout: float  # what the run is given: a kept run that took longer is not this run


_in_process: dict[str, dict] = {}


def run_key(task: Task, git_dir: Path, settings: ValidationSettings, patches: list[tuple[str, str]],
            guard: dict | None, network: bool, order: int = 0) -> RunKey:
    environment = environment_id(task, settings.backend, git_dir)
    where = environment if environment is not None else [str(task.path), task.base_commit, str(git_dir)]
    spec = [where, settings.backend, network,
            [(name, hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()) for name, text in patches],
            guard or {}, order, code_version(testrun.__name__, settings.backend)]
    return RunKey(hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:32], environment is not None,
                  settings.timeout)


def _path(key: RunKey) -> Path:
    return cache_root() / "runs" / f"{key.digest}.json"


def _kept(key: RunKey) -> dict | None:
    kept = _in_process.get(key.digest)
    if kept is None and key.durable and _path(key).exists():
        kept = json.loads(_path(key).read_text())
    return kept


def _store(key: RunKey, kept: dict) -> None:
    _in_process[key.digest] = kept
    if key.durable:
        atomic.write_json(_path(key), kept)


def lookup(key: RunKey, label: str) -> tuple[testrun.TestRun, dict] | None:
    """(the run, the sandbox's versions) kept under `key`, labelled and timed as asked; None when
    absent or when it took longer than the key's timeout."""
    kept = _kept(key)
    if kept is None or kept["run"]["duration"] > key.timeout:
        return None
    return replace(testrun.TestRun.from_dict(kept["run"]), label=label, timeout=key.timeout), kept["versions"]


def keep(key: RunKey, run: testrun.TestRun, versions: dict) -> None:
    if run.timed_out or run.limit:
        return
    _store(key, {"run": {**run.to_dict(), **run.log()}, "versions": versions})


def cached_run(task: Task, git_dir: Path, settings: ValidationSettings, patches: list[tuple[str, str]], label: str,
               guard: dict | None = None, *, network: bool = False, order: int = 0) -> tuple[testrun.TestRun, dict]:
    """(run, versions): testrun.run_tests in a fresh sandbox, or the run kept under its key (a
    rerun's `order` is in it). One thread or process runs a key at a time; the others wait and
    find it."""
    key = run_key(task, git_dir, settings, patches, guard, network, order)
    with build_lock(f"run-{key.digest}"):
        found = lookup(key, label)
        if found is not None:
            return found
        run, versions = fresh_run(task, git_dir, settings, patches, label, guard, network=network, order=order)
        keep(key, run, versions)
        return run, versions


def fresh_run(task: Task, git_dir: Path, settings: ValidationSettings, patches: list[tuple[str, str]], label: str,
              guard: dict | None = None, *, network: bool = False, order: int = 0) -> tuple[testrun.TestRun, dict]:
    """(run, versions): testrun.run_tests in a fresh sandbox. A run whose report disagrees with what
    it echoed is run once more, in another fresh sandbox, and that run is the one judged: the docker
    daemon has lost exec output under load (docker-py#2042), which reads as a rewritten report. A
    test that rewrites its report does so again, and a second run that agrees is an honest one."""
    for _ in range(2):
        with open_sandbox(task, settings.backend, git_dir, network=network) as sandbox:
            run, versions = testrun.run_tests(sandbox, patches, label, settings.timeout, guard, order), sandbox.versions()
        if not run.tampered:
            break
    return run, versions


def cached_plain_run(task: Task, git_dir: Path, settings: ValidationSettings, patches: list[tuple[str, str]]) -> dict:
    """testrun.plain_run (the runner alone, nothing of ours in it) in a fresh sandbox, or the one
    kept under its key: a key of its own, apart from every graded run's."""
    key = run_key(task, git_dir, settings, patches, {"plain": True}, task.network)
    with build_lock(f"run-{key.digest}"):
        kept = _kept(key)
        if kept is not None:
            return kept["plain"]
        with open_sandbox(task, settings.backend, git_dir, network=task.network) as sandbox:
            plain = testrun.plain_run(sandbox, patches, settings.timeout)
        if not plain["timed_out"]:
            _store(key, {"plain": plain})
        return plain
