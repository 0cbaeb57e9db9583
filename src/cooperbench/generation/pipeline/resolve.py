"""Stage `resolve@<model>`: the resolver agent on every hard pair of that model's candidates.

A candidate is worth resolving when its verdict holds under `require: hard` (its tests pass, it
breaks nothing, one of its conflicts is hard); each of its hard pairs gets one resolver session
(`resolver.model`, limits as any model's, `agent` settings), checked independently
(agent/resolve.py), recorded as `resolutions/<model>/<task>/attempt<k>/vs_feature<K>.json`
with the resolution's patch beside it when solvable. Records are keyed like attempts (the
candidate's split, the feature, the task's files, the resolver's settings, the backend, the
code), so a pair is never resolved (or billed) twice. With no resolver model, nothing runs.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

from cooperbench.generation.agent.models import check_model, probe_model
from cooperbench.generation.agent.replay import is_replay
from cooperbench.generation.agent.resolve import resolve_pair
from cooperbench.generation.conflicts.classify import WholeFeature, whole_features
from cooperbench.generation.conflicts.detect import candidate_id
from cooperbench.generation.core.codeversion import code_version
from cooperbench.generation.core.layout import GENERATED, AttemptPaths
from cooperbench.generation.core.records import digest_files, key_of, prune, published_key
from cooperbench.generation.grading.grade import apply_rule
from cooperbench.generation.pipeline.common import (
    LOGS,
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
from cooperbench.generation.schemas import AgentSettings, Params, Resolution, ValidationSettings, dump, parse, read_json
from cooperbench.generation.tasks.task import Task
from cooperbench.generation.util import atomic
from cooperbench.generation.util.progress import say

RESOLVER = "cooperbench.generation.agent.resolve"  # what makes a resolution

STAGE = Stage(
    "resolve",
    "The resolver model on each hard conflict of a valid candidate (validation.require: "
    "solvable asks one solved).",
    params=("resolver", "agent", "validation.timeout", "backend", "attempts", "repos", *TASK_PARAMS),
    deps=("generated/prompts", "generated/index/split/${key}.json", "generated/index/verdicts/${key}.json"),
    per_model=True, reads=("jobs",),
    outs=("generated/resolutions/${key}", "generated/index/resolutions/${key}.json"),
    persist=("generated/resolutions/${key}",),
)


def hard_pairs(paths: AttemptPaths) -> list[int]:
    """The features a candidate conflicts hard with, when it is worth resolving at all."""
    verdict = json.loads(paths.verdict_json.read_text(encoding="utf-8"))
    if not apply_rule(verdict, "hard")["valid"]:
        return []
    return [p["feature"] for p in verdict["conflict_result"]["pairs"] if p.get("class") == "hard"]


def pair_files(record: Path) -> tuple[Path, Path, Path]:
    """A pair's record, its resolution patch (when solvable) and the resolver's trajectory."""
    return record, record.with_suffix(".patch"), record.with_suffix(".trajectory.json")


def resolution_key(paths: AttemptPaths, feature: int, task_files: str, settings: AgentSettings,
                   validation: ValidationSettings) -> str:
    """The key of one pair's resolution: the candidate's split, the feature, the task's files,
    the resolver's settings, the validation's and the resolver's code on its backend."""
    split = digest_files([paths.feature_patch, paths.tests_patch, paths.feature_md, paths.split_json])
    return key_of({"split": split, "feature": feature, "task_files": task_files, "resolver": settings.record(),
                   "validation": validation.model_dump(mode="json"), "code": code_version(RESOLVER, validation.backend)})


def resolve_recorded(task: Task, git_dir: Path, paths: AttemptPaths, feature: int, settings: AgentSettings,
                     validation: ValidationSettings, key: str, *, label: str = "") -> dict:
    """One hard pair of a candidate resolved, its files written beside the candidate (pair_files);
    the record last, since its key says the pair is done. Returns the record."""
    wholes = whole_features(task)
    candidate = WholeFeature(candidate_id(task), paths.feature_patch.read_text(encoding="utf-8", errors="surrogateescape"),
                             paths.tests_patch.read_text(encoding="utf-8", errors="surrogateescape"))
    descriptions = {feature: task.feature(feature).description, candidate.id: paths.feature_md.read_text(encoding="utf-8")}
    record_file = paths.resolution(feature)
    staging = atomic.staging_dir(record_file.parent / f"vs_feature{feature}")
    try:
        staging.mkdir(parents=True, exist_ok=True)
        trajectory = staging / "trajectory.json"
        record = resolve_pair(task, git_dir, wholes[feature], candidate, descriptions, settings, validation, trajectory,
                              label=label)
        patch = record.pop("patch")
        record = dump(parse({**record, "replay": is_replay(settings.model.name), "key": key}, Resolution, record_file))
        _, patch_file, trajectory_file = pair_files(record_file)
        if trajectory.exists():
            atomic.write_text(trajectory_file, trajectory.read_text(encoding="utf-8"))
        if patch:
            atomic.write_text(patch_file, patch)
        else:
            patch_file.unlink(missing_ok=True)
        atomic.write_json(record_file, record)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return record


def solve_attempt(task: Task, git_dir: Path, paths: AttemptPaths, verdict: dict, resolver: AgentSettings,
                  validation: ValidationSettings, task_files: str, *, label: str) -> dict:
    """`verdict` (the attempt's, graded without a resolver) under `require: solvable`: the resolver
    on its hard pairs in turn until one is solved, each pair's record kept beside the attempt under
    its key (a kept one is never resolved or billed again)."""
    grading = validation.model_copy(update={"require": "conflict"})  # as the resolve stage keys it
    pairs, solved = [], not apply_rule(verdict, "hard")["valid"]  # nothing worth resolving: as if done
    for pair in verdict["conflict_result"]["pairs"]:
        if pair.get("class") != "hard" or solved:
            pairs.append(pair)
            continue
        feature = pair["feature"]
        key = resolution_key(paths, feature, task_files, resolver, grading)
        if published_key(paths.resolution(feature)) == key:
            record = dump(read_json(paths.resolution(feature), Resolution))
        else:
            record = resolve_recorded(task, git_dir, paths, feature, resolver, grading, key, label=f"{label} vs feature{feature}")
        say(f"[{label}] resolver {resolver.model.name} on feature{feature}: {record['status']}")
        pairs.append({**pair, "resolution": record})
        solved = record["status"] == "solvable"
    return apply_rule({**verdict, "conflict_result": {**verdict["conflict_result"], "pairs": pairs}}, "solvable")


def run(params: Params, slug: str) -> None:
    tasks = checked_tasks(params)
    check_inputs(slug, "split", "verdicts")
    root = GENERATED / "resolutions" / slug
    jobs, kept = [], []
    resolver = params.resolver.model
    settings = AgentSettings(model=resolver, agent=params.agent) if resolver else None
    validation = ValidationSettings.of(backend=params.backend, timeout=params.validation.timeout)
    for task_name, k, paths in attempts(params, slug):
        for feature in hard_pairs(paths) if settings else []:
            key = resolution_key(paths, feature, task_digest(task_name), settings, validation)
            kept.append(paths.resolution(feature))
            if published_key(paths.resolution(feature)) != key:
                jobs.append((task_name, k, paths, feature, key))
    folders = {file.parent for file in kept}
    prune(root, folders)
    wanted = {name for file in kept for name in pair_files(file)}
    for folder in folders:  # the files of pairs no longer hard go too
        for file in folder.iterdir() if folder.is_dir() else []:
            if file not in wanted:
                file.unlink()
    if jobs:
        for task in {tasks[job[0]] for job in jobs}:
            check_model(settings.model.name, task.path)
        probe_model(settings.model.name, settings.model.kwargs(), settings.agent.retries)
        git_dirs = {name: git_dir_for(params, tasks[name]) for name in {job[0] for job in jobs}}

        def one(job) -> None:
            task_name, k, paths, feature, key = job
            started = time.monotonic()
            resolve_recorded(tasks[task_name], git_dirs[task_name], paths, feature, settings, validation, key,
                             label=f"{slug} {task_name} attempt{k} vs feature{feature}")
            atomic.write_json(LOGS / "resolve" / slug / task_name / f"attempt{k}-vs_feature{feature}.json",
                              {"seconds": round(time.monotonic() - started, 3)})

        run_items(jobs, one, jobs=params.jobs, name=lambda job: f"{job[0]} attempt{job[1]} vs feature{job[3]}",
                  what="resolutions", retries=params.agent.retries)
    root.mkdir(parents=True, exist_ok=True)
    publish_index("resolutions", slug)
    solved = sum(json.loads(f.read_text())["status"] == "solvable" for f in kept)
    if settings is None:
        print(f"{slug}: no resolver model (resolver.model): hard pairs stay unresolved")
    else:
        print(f"{slug}: {len(kept)} hard pairs, {solved} solvable ({len(jobs)} resolved now, {len(kept) - len(jobs)} kept)")
