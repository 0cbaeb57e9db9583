"""Stage `judge@<model>`: the description judge on every candidate of that model whose tests hold.

A candidate is judged when its verdict holds under `require: conflict` (its tests fail before
and pass after, nothing breaks, it conflicts): its feature.md against its tests.patch and the
base code they reach (agent/judge.py), by `judge.model` with `judge.prompt`. The record is
`judgements/<model>/<task>/attempt<k>/judgement.json`, the session beside it, keyed by the
candidate's split, the task's files, the judge's model and prompt text and its code: a
candidate is never judged (or billed) twice. With no judge model, nothing runs.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from dataclasses import replace
from pathlib import Path

from cooperbench.generation.agent.judge import check_judge, judge, shipped_template
from cooperbench.generation.core.codeversion import code_version
from cooperbench.generation.core.layout import GENERATED, AttemptPaths
from cooperbench.generation.core.records import digest_files, digest_folder, key_of, prune, published_key
from cooperbench.generation.grading.grade import apply_rule
from cooperbench.generation.pipeline.common import (
    TASK_PARAMS,
    Stage,
    attempts,
    check_inputs,
    checked_tasks,
    git_dir_for,
    publish_index,
    task_digest,
)
from cooperbench.generation.pipeline.parallel import run_items
from cooperbench.generation.schemas import Judgement, JudgeParams, ModelParams, Params, dump, parse
from cooperbench.generation.tasks.task import Task
from cooperbench.generation.util import atomic
from cooperbench.generation.util.progress import say

JUDGE = "cooperbench.generation.agent.judge"  # what makes a judgement

STAGE = Stage(
    "judge",
    "The description judge on each candidate whose tests hold: ok, underspecified, leaks or vague.",
    params=("judge.model", "judge.prompt", "attempts", "repos", *TASK_PARAMS),
    deps=("generated/prompts", "agents", "generated/index/split/${key}.json", "generated/index/verdicts/${key}.json"),
    per_model=True, reads=("jobs", "agent.retries"),
    outs=("generated/judgements/${key}", "generated/index/judgements/${key}.json"),
    persist=("generated/judgements/${key}",),
)


def worth_judging(paths: AttemptPaths) -> bool:
    verdict = json.loads(paths.verdict_json.read_text(encoding="utf-8"))
    return apply_rule(verdict, "conflict")["valid"]


def judge_template(prompt: str | None) -> str:
    """The judge's prompt template: the project's file (agents/<name>.md) or the shipped one."""
    return Path(prompt).read_text(encoding="utf-8") if prompt else shipped_template()


def judgement_key(paths: AttemptPaths, task_files: str, model: ModelParams, template: str) -> str:
    split = digest_files([paths.feature_patch, paths.tests_patch, paths.feature_md, paths.split_json])
    return key_of({"split": split, "task_files": task_files, "judge": model.model_dump(mode="json"),
                   "prompt": hashlib.sha256(template.encode()).hexdigest(), "code": code_version(JUDGE)})


def judge_recorded(task: Task, git_dir: Path, paths: AttemptPaths, model: ModelParams, template: str, key: str,
                   *, retries: int, session: str | None) -> dict:
    """One candidate judged, its session and record written (the record last: its key says done)."""
    staging = atomic.staging_dir(paths.judgements)
    try:
        read = lambda path: path.read_text(encoding="utf-8", errors="surrogateescape")  # noqa: E731
        found = judge(task, git_dir, read(paths.feature_md), read(paths.feature_patch), read(paths.tests_patch), model,
                      template, staging / "session.json", retries=retries, replay_session=session)
        record = dump(parse({**found, "key": key}, Judgement, paths.judgement))
        atomic.write_text(paths.judge_session, (staging / "session.json").read_text(encoding="utf-8"))
        atomic.write_json(paths.judgement, record)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return record


def judged(task: Task, git_dir: Path, paths: AttemptPaths, judge_params: JudgeParams, *, retries: int,
           session: str | None = None) -> dict:
    """An attempt's judgement under `judge_params`: its kept record when the key matches (the
    judge stage's, say), else made now in a scratch copy: the attempt's folder, maybe a DVC
    output, is not written."""
    template = judge_template(judge_params.prompt)
    key = judgement_key(paths, digest_folder(task.path), judge_params.model, template)
    if paths.judgements is not None and published_key(paths.judgement) == key:
        return json.loads(paths.judgement.read_text(encoding="utf-8"))
    with tempfile.TemporaryDirectory(prefix="cooperbench-judge-") as scratch:
        return judge_recorded(task, git_dir, replace(paths, judgements=Path(scratch) / "judge"), judge_params.model,
                              template, key, retries=retries, session=session)


def run(params: Params, slug: str) -> None:
    tasks = checked_tasks(params)
    check_inputs(slug, "split", "verdicts")
    root = GENERATED / "judgements" / slug
    model = params.judge.model
    template = judge_template(params.judge.prompt) if model else ""
    jobs, kept = [], []
    for task_name, k, paths in attempts(params, slug):
        if model and worth_judging(paths):
            key = judgement_key(paths, task_digest(task_name), model, template)
            kept.append(paths.judgements)
            if published_key(paths.judgement) != key:
                jobs.append((task_name, k, paths, key))
    prune(root, kept)
    if jobs:
        for task_name, k, _, _ in jobs:
            check_judge(model, tasks[task_name].path, [f"attempt{k}"])
        git_dirs = {name: git_dir_for(params, tasks[name]) for name in {job[0] for job in jobs}}

        def one(job) -> None:
            task_name, k, paths, key = job
            record = judge_recorded(tasks[task_name], git_dirs[task_name], paths, model, template, key,
                                    retries=params.agent.retries, session=f"attempt{k}")
            say(f"[{slug} {task_name} attempt{k}] judge {model.name}: {record['label']}")

        run_items(jobs, one, jobs=params.jobs, name=lambda job: f"{job[0]} attempt{job[1]}", what="judgements",
                  retries=params.agent.retries)
    root.mkdir(parents=True, exist_ok=True)
    publish_index("judgements", slug)
    if model is None:
        print(f"{slug}: no judge model (judge.model): descriptions not judged")
    else:
        labels = [json.loads(folder.joinpath("judgement.json").read_text())["label"] for folder in kept]
        counts = ", ".join(f"{labels.count(x)} {x}" for x in sorted(set(labels)))
        print(f"{slug}: {len(kept)} judged ({len(jobs)} now)" + (f": {counts}" if counts else ": no candidate whose tests hold"))
