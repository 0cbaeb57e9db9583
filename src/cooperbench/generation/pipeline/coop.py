"""Stage `coop@<model>`: difficulty by the benchmark's own protocol, on that model's valid features.

For a candidate valid under `require: hard` and each of its hard pairs the resolver solved (its
record in resolutions/), each solver model of `coop.solvers` runs as a team of two agents, one
feature each (agent/coop.py): `coop/<model>/<task>/attempt<k>/vs_feature<K>.<solver>.json` says
solved, merge_conflict or tests_failed, the two trajectories beside it. Records are keyed like
resolutions (the candidate's split, the feature, the task's files, the solver's settings, the
validation and the code), so a team never runs (or is billed) twice for the same pair.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

from cooperbench.generation.agent.coop import run_team
from cooperbench.generation.agent.models import check_model, probe_model
from cooperbench.generation.agent.replay import is_replay
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
from cooperbench.generation.schemas import AgentSettings, Params, Team, ValidationSettings, dump, parse
from cooperbench.generation.tasks.task import Task
from cooperbench.generation.util import atomic

COOP = "cooperbench.generation.agent.coop"  # what makes a team's record

STAGE = Stage(
    "coop",
    "Teams of two solver agents (coop.solvers), one feature each, on each solvable pair of a valid candidate.",
    params=("coop", "agent", "validation.timeout", "backend", "attempts", "repos", *TASK_PARAMS),
    deps=("generated/prompts", "generated/index/split/${key}.json", "generated/index/verdicts/${key}.json",
          "generated/index/resolutions/${key}.json"),
    per_model=True, reads=("jobs",),
    outs=("generated/coop/${key}", "generated/index/coop/${key}.json"),
    persist=("generated/coop/${key}",),
)


def solvable_pairs(paths: AttemptPaths) -> list[int]:
    """The features a candidate valid under `hard` conflicts with and the resolver solved."""
    verdict = json.loads(paths.verdict_json.read_text(encoding="utf-8"))
    if not apply_rule(verdict, "hard")["valid"]:
        return []
    hard = [p["feature"] for p in verdict["conflict_result"]["pairs"] if p.get("class") == "hard"]
    return [k for k in hard if paths.resolution(k).is_file()
            and json.loads(paths.resolution(k).read_text(encoding="utf-8"))["status"] == "solvable"]


def trajectories(record: Path, features: list[int]) -> dict[int, Path]:
    """The team's two sessions, beside its record."""
    return {k: record.with_name(f"{record.stem}.feature{k}.traj.json") for k in features}


def team_key(paths: AttemptPaths, feature: int, task_files: str, settings: AgentSettings,
             validation: ValidationSettings) -> str:
    split = digest_files([paths.feature_patch, paths.tests_patch, paths.feature_md, paths.split_json])
    return key_of({"split": split, "feature": feature, "task_files": task_files, "solver": settings.record(),
                   "validation": validation.model_dump(mode="json"), "code": code_version(COOP, validation.backend)})


def team_recorded(task: Task, git_dir: Path, paths: AttemptPaths, feature: int, solver: str, settings: AgentSettings,
                  validation: ValidationSettings, key: str, label: str) -> dict:
    """One team on one pair, its trajectories and record written (the record last)."""
    candidate = WholeFeature(candidate_id(task), paths.feature_patch.read_text(encoding="utf-8", errors="surrogateescape"),
                             paths.tests_patch.read_text(encoding="utf-8", errors="surrogateescape"))
    pair = (whole_features(task)[feature], candidate)
    descriptions = {feature: task.feature(feature).description, candidate.id: paths.feature_md.read_text(encoding="utf-8")}
    record_file = paths.team(feature, solver)
    staging = atomic.staging_dir(record_file.with_suffix(""))
    try:
        staged = {k: staging / f"feature{k}.traj.json" for k in (feature, candidate.id)}
        found = run_team(task, git_dir, pair, descriptions, settings, validation, staged, label)
        record = dump(parse({**found, "solver": settings.model.name, "replay": is_replay(settings.model.name), "key": key},
                            Team, record_file))
        for k, target in trajectories(record_file, list(staged)).items():
            if staged[k].exists():
                atomic.write_text(target, staged[k].read_text(encoding="utf-8"))
        atomic.write_json(record_file, record)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return record


def run(params: Params, slug: str) -> None:
    tasks = checked_tasks(params)
    check_inputs(slug, "split", "verdicts", "resolutions")
    root = GENERATED / "coop" / slug
    validation = ValidationSettings.of(backend=params.backend, timeout=params.validation.timeout)
    solvers = {name: AgentSettings(model=model, agent=params.agent) for name, model in params.coop.solvers.items()}
    jobs, kept = [], []
    for task_name, k, paths in attempts(params, slug):
        for feature in solvable_pairs(paths) if solvers else []:
            for name, settings in solvers.items():
                key = team_key(paths, feature, task_digest(task_name), settings, validation)
                record = paths.team(feature, name)
                kept.append((record, [feature, candidate_id(tasks[task_name])]))
                if published_key(record) != key:
                    jobs.append((task_name, k, paths, feature, name, key))
    folders = {record.parent for record, _ in kept}
    prune(root, folders)
    wanted = {file for record, features in kept for file in [record, *trajectories(record, features).values()]}
    for folder in folders:  # the files of pairs and solvers no longer named go too
        for file in folder.iterdir() if folder.is_dir() else []:
            if file not in wanted:
                file.unlink()
    if jobs:
        for task_name, _, _, _, name, _ in jobs:
            check_model(solvers[name].model.name, tasks[task_name].path)
        for settings in {name: solvers[name] for *_, name, _ in jobs}.values():
            probe_model(settings.model.name, settings.model.kwargs(), settings.agent.retries)
        git_dirs = {name: git_dir_for(params, tasks[name]) for name in {job[0] for job in jobs}}

        def one(job) -> None:
            task_name, k, paths, feature, name, key = job
            started = time.monotonic()
            label = f"{slug} {task_name} attempt{k} vs feature{feature} {name}"
            team_recorded(tasks[task_name], git_dirs[task_name], paths, feature, name, solvers[name], validation, key, label)
            atomic.write_json(LOGS / "coop" / slug / task_name / f"attempt{k}-vs_feature{feature}.{name}.json",
                              {"seconds": round(time.monotonic() - started, 3)})

        run_items(jobs, one, jobs=params.jobs, name=lambda job: f"{job[0]} attempt{job[1]} vs feature{job[3]} ({job[4]})",
                  what="teams", retries=params.agent.retries)
    root.mkdir(parents=True, exist_ok=True)
    publish_index("coop", slug)
    statuses = [json.loads(record.read_text())["status"] for record, _ in kept]
    if not solvers:
        print(f"{slug}: no solver models (coop.solvers): no team ran")
    else:
        print(f"{slug}: {len(kept)} team runs ({len(jobs)} now): "
              + (", ".join(f"{statuses.count(s)} {s}" for s in sorted(set(statuses))) or "no solvable pair"))
