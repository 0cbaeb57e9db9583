"""The bare base commit's test run, shared: once per environment on disk (runcache) and once per
task in a process, checked against the runner alone (`testrun.plain_run`), and rerun
`validation.reruns` times in all, each rerun in a shuffled order, so the base's flaky tests are
known (`TestRun.flaky`). Candidates, conflict classes and resolutions are all judged against it."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from cooperbench.generation.errors import HarnessDisagrees
from cooperbench.generation.grading import runcache, testrun
from cooperbench.generation.grading.grade import harness_disagreement
from cooperbench.generation.grading.outcomes import ERROR
from cooperbench.generation.sandbox.backends import open_sandbox
from cooperbench.generation.schemas import ValidationSettings
from cooperbench.generation.tasks.environment import BASE_RUN_PATCH, EnvironmentFailure, build_lock, explain_failure
from cooperbench.generation.tasks.task import Task

_base_runs: dict[tuple, testrun.TestRun] = {}  # this process's base runs, by task and settings
_base_locks: dict[tuple, threading.Lock] = {}
_base_guard = threading.Lock()


def base_run(task: Task, git_dir: Path, settings: ValidationSettings) -> testrun.TestRun:
    """The bare base commit's run, made once per environment (cached on disk) and looked up once
    per task in a process: candidates validated together share it, and no sandbox is opened per
    candidate to find it."""
    memo = (str(task.path), task.base_commit, str(git_dir), settings.backend, settings.timeout, settings.reruns)
    with _base_guard:
        lock = _base_locks.setdefault(memo, threading.Lock())
    with lock:
        if memo not in _base_runs:
            _base_runs[memo] = environment_base_run(task, git_dir, settings)
        return _base_runs[memo]


def environment_base_run(task: Task, git_dir: Path, settings: ValidationSettings) -> testrun.TestRun:
    """The base run of the task's environment: kept across processes (runcache), or run now,
    beside its self-check (the runner alone, `testrun.plain_run`), which must agree with it: a
    base that runs as the task's runner runs it, or our fault named (HarnessDisagrees)."""
    patches = [("tests.patch", BASE_RUN_PATCH)]
    key = runcache.run_key(task, git_dir, settings, patches, None, False)
    with build_lock(f"run-{key.digest}"):  # candidates validated at once share one base run
        found = runcache.lookup(key, "base")
        if found is not None:
            run = found[0]
        else:
            with ThreadPoolExecutor(max_workers=1) as pool:
                plain = pool.submit(plain_base_run, task, git_dir, settings)
                run, versions = runcache.fresh_run(task, git_dir, settings, patches, "base")
                run.plain = plain.result()
            runcache.keep(key, run, versions)
    check_base(task, run)  # before any rerun: a base that does not run, runs once
    with ThreadPoolExecutor(max_workers=max(1, settings.reruns - 1)) as pool:
        reruns = pool.map(lambda order: runcache.cached_run(task, git_dir, settings, patches, "base", order=order)[0],
                          range(1, settings.reruns))
        for rerun in reruns:
            run.fold(rerun)
    check_base(task, run)
    return run


def check_base(task: Task, run: testrun.TestRun) -> None:
    """A base to grade against, or the fault named: ours (the harness disagrees with the runner
    alone) or the environment's (the tests do not run there)."""
    disagreement = harness_disagreement(run)
    if disagreement:
        raise HarnessDisagrees(f"{task.name}: {disagreement}: the project's fault, not the task's")
    if run.problem or run.timed_out:
        raise EnvironmentFailure(f"{task.name}: the tests do not run on the bare base commit "
                                 f"({'timed out' if run.timed_out else run.problem})")
    if run.outcomes and all(o == ERROR for o in run.outcomes.values()):  # fixtures that fetch a model, say
        raise EnvironmentFailure(f"{task.name}: every test errors on the bare base commit "
                                 f"({explain_failure(run.output_tail, run.exit_code)}): no base to grade against")


def plain_base_run(task: Task, git_dir: Path, settings: ValidationSettings) -> dict:
    with open_sandbox(task, settings.backend, git_dir) as sandbox:
        return testrun.plain_run(sandbox, [("tests.patch", BASE_RUN_PATCH)], settings.timeout)
