"""Expansion rounds: a task grows one accepted feature at a time, each round's agent seeing the
features accepted before it.

Round r runs `attempts` attempts of its model (the r-th of `models`, the last one repeating) on
the task as it now stands (pipeline/attempts.py, into `<task folder of output>/round<r>/`). The
best valid candidate (most hard conflicts, then cheapest, then first) is validated again and
promoted as `feature<N+1>/` (pipeline/promote.py), with the round in its provenance; the next
round's prompt lists it. Under `require: solvable` the resolver runs on the hard pairs of the
candidates valid under `hard`, best first, until one pair is solved.

`expansion_log.json` (beside the rounds) records every attempt of every round (accepted, or why
not), the overlap map (each new feature's conflicts and their classes), resolutions and cost. It
is written after each step, so a rerun redoes nothing done: kept attempts are not run (or billed)
again, a finished round is not redone, a promotion cut short is finished. It stops after `rounds`
rounds, or at a round that yields nothing valid (no invalid or duplicate feature is promoted:
each round validates against every feature accepted before it).
"""

from __future__ import annotations

import json
from pathlib import Path

from cooperbench.generation.core.layout import RUNS, AttemptPaths
from cooperbench.generation.core.records import digest_folder
from cooperbench.generation.errors import GenerationError
from cooperbench.generation.pipeline.attempts import GenerationResult, generate_features
from cooperbench.generation.pipeline.promote import promote
from cooperbench.generation.pipeline.resolve import pair_files, solve_attempt
from cooperbench.generation.pipeline.validity import checkable
from cooperbench.generation.schemas import AgentSettings, DecomposeParams, ValidationSettings
from cooperbench.generation.tasks.task import Task, load_task, resolve_repo
from cooperbench.generation.util import atomic
from cooperbench.generation.util.progress import say

LOG_NAME = "expansion_log.json"


def task_folder(output: Path, task: Task) -> Path:
    """Where a task's rounds and its log go under `output`."""
    return Path(output) / task.repo_name / f"task{task.task_id}"


def expand(task_dir: Path, rounds: int, models: list[AgentSettings], *, validation: ValidationSettings,
           attempts: int = 1, output: Path = RUNS, jobs: int = 1, repo: Path | None = None,
           resolver: AgentSettings | None = None, strategy: str = "generate",
           decompose: DecomposeParams = DecomposeParams()) -> dict:
    """Run rounds 1..`rounds` (those not done yet); returns the log."""
    if not models:
        raise GenerationError("expand: name at least one model")
    if validation.require == "solvable" and resolver is None:
        raise GenerationError("expand: `require: solvable` needs a resolver model (--resolver)")
    task = load_task(task_dir)
    folder = task_folder(output, task)
    log_file = folder / LOG_NAME
    log = read_log(log_file) if log_file.is_file() else {"task": task.name, "rounds": []}
    log |= {"require": validation.require, "rounds_asked": rounds}
    git_dir = resolve_repo(task, repo)
    for number in range(1, rounds + 1):
        task = load_task(task_dir)  # as it stands: every feature accepted so far
        entry = next((e for e in log["rounds"] if e["round"] == number), None)
        if entry is None:
            settings = models[min(number, len(models)) - 1]
            say(f"[expand {task.name}] round {number}: {attempts} attempt(s) of {settings.model.name} "
                f"on {len(task.features)} features")
            entry = run_round(task, git_dir, number, settings, validation, attempts=attempts, jobs=jobs,
                              folder=folder, repo=repo, resolver=resolver, strategy=strategy, decompose=decompose)
            log["rounds"].append(entry)
            write_log(log_file, log)
        if entry["accepted"] is not None and entry["status"] == "promoting":
            finish_promotion(task, git_dir, folder, entry, validation, resolver)
            write_log(log_file, log)
        if entry["accepted"] is None:
            log["status"] = f"stopped at round {number}: {entry['why_none']}"
            break
        log["status"] = f"{number} of {rounds} rounds done"
    write_log(log_file, log)
    return log


def run_round(task: Task, git_dir: Path, number: int, settings: AgentSettings, validation: ValidationSettings, *,
              attempts: int, jobs: int, folder: Path, repo: Path | None, resolver: AgentSettings | None,
              strategy: str, decompose: DecomposeParams) -> dict:
    """One round's attempts, graded, ranked, and (under `solvable`) resolved; the log entry."""
    results = generate_features(task, settings, backend=validation.backend, attempts=attempts,
                                output=folder / f"round{number}", jobs=jobs, repo=repo, validation=checkable(validation),
                                strategy=strategy, decompose=decompose)
    entries = [attempt_entry(result, folder) for result in results]
    ranked = sorted((e for e in entries if e["valid"]), key=rank)
    resolutions, accepted = [], None
    for entry in ranked:
        if validation.require != "solvable":
            accepted = entry
            break
        solved = resolve_candidate(task, git_dir, results[entry["attempt"] - 1], resolver, validation, resolutions, folder)
        if solved:
            accepted = entry
            break
    for entry in entries:
        entry["accepted"] = entry is accepted
    why_none = None
    if accepted is None:
        why_none = ("no valid candidate" if not ranked else
                    f"no hard conflict of the {len(ranked)} candidate(s) valid under `hard` was solved")
    return {
        "round": number,
        "model": settings.model.name,
        "strategy": strategy,
        "replay": any(e["replay"] for e in entries),
        "features_before": [f.id for f in task.features],
        "attempts": entries,
        "resolutions": resolutions,
        "accepted": None if accepted is None else {"attempt": accepted["attempt"], "folder": accepted["folder"],
                                                   "key": accepted["key"], "conflicts": accepted["conflicts"]},
        "why_none": why_none,
        "cost": total_cost([e["cost"] for e in entries] + [r["cost"] for r in resolutions]),
        "status": "promoting" if accepted else "done",
    }


def attempt_entry(result: GenerationResult, folder: Path) -> dict:
    """An attempt as the log keeps it (its verdict under the checkable rule)."""
    verdict = result.verdict
    pairs = [p for p in verdict["conflict_result"]["pairs"] if p["has_conflict"]]
    return {
        "attempt": int(result.attempt_dir.name.removeprefix("attempt")),
        "folder": str(result.attempt_dir.relative_to(folder)),
        "key": result.usage["provenance"]["key"],
        "valid": verdict["valid"],
        "reasons": verdict["reasons"],
        "conflicts": {str(p["feature"]): p.get("class", "conflict") for p in pairs},
        "hard": sum(p.get("class") == "hard" for p in pairs),
        "cost": result.agent_cost,
        "replay": result.usage["replay"],
    }


def rank(entry: dict) -> tuple:
    """Most hard conflicts, then cheapest (an unknown cost last), then the first attempt."""
    return (-entry["hard"], float("inf") if entry["cost"] is None else entry["cost"], entry["attempt"])


def resolve_candidate(task: Task, git_dir: Path, result: GenerationResult, resolver: AgentSettings,
                      validation: ValidationSettings, resolutions: list[dict], folder: Path) -> bool:
    """The resolver on a candidate's hard pairs (pipeline/resolve.py), each one tried appended to
    `resolutions`. True when one is solvable."""
    paths = AttemptPaths.folder(result.attempt_dir)
    attempt = int(result.attempt_dir.name.removeprefix("attempt"))
    verdict = solve_attempt(task, git_dir, paths, result.verdict, resolver, validation, digest_folder(task.path),
                            label=f"expand {task.name} {result.attempt_dir.name}")
    for pair in verdict["conflict_result"]["pairs"]:
        if "resolution" in pair:
            record, patch_file = pair["resolution"], pair_files(paths.resolution(pair["feature"]))[1]
            resolutions.append({"attempt": attempt, "feature": pair["feature"], "status": record["status"],
                                "cost": record["cost"], "replay": record["replay"],
                                "patch": str(patch_file.relative_to(folder)) if patch_file.is_file() else None})
    return verdict["valid"]


def finish_promotion(task: Task, git_dir: Path, folder: Path, entry: dict, validation: ValidationSettings,
                     resolver: AgentSettings | None) -> None:
    """Promote the round's accepted attempt, unless a cut-short run already did (a feature folder
    whose provenance has the attempt's key)."""
    accepted = entry["accepted"]
    done = next((f.id for f in task.features if provenance_key(task.path / f"feature{f.id}") == accepted["key"]), None)
    if done is None:
        target, verdict = promote(task, folder / accepted["folder"], git_dir, validation,  # kept resolutions reused
                                  extra={"expansion": {"round": entry["round"]}}, resolver=resolver)
        done = int(target.name.removeprefix("feature"))
        accepted["conflicts"] = {str(p["feature"]): p.get("class", "conflict")
                                 for p in verdict["conflict_result"]["pairs"] if p["has_conflict"]}
    accepted["feature"] = done
    entry["status"] = "done"
    say(f"[expand {task.name}] round {entry['round']}: feature{done} accepted "
        f"(conflicts: {', '.join(f'feature{k} {c}' for k, c in accepted['conflicts'].items())})")


def provenance_key(feature_dir: Path) -> str | None:
    file = feature_dir / "provenance.json"
    return json.loads(file.read_text()).get("key") if file.is_file() else None


def total_cost(costs: list[float | None]) -> float | None:
    """The sum, or None when any part's price is unknown."""
    return None if any(c is None for c in costs) else round(sum(costs), 6)


def read_log(file: Path) -> dict:
    """An earlier run's log, to resume from; one line when it cannot be read."""
    try:
        log = json.loads(file.read_text(encoding="utf-8"))
        if not isinstance(log.get("rounds"), list):
            raise ValueError("no rounds")
        return log
    except (OSError, UnicodeDecodeError, ValueError, AttributeError) as exc:
        raise GenerationError(f"{file}: not an expansion log ({type(exc).__name__}); move it away to start again") from None


def write_log(file: Path, log: dict) -> None:
    """The log, with the overlap map of every feature accepted so far."""
    log["overlap"] = {str(e["accepted"]["feature"]): e["accepted"]["conflicts"] for e in log["rounds"]
                      if e["accepted"] and "feature" in e["accepted"]}
    log["cost"] = total_cost([e["cost"] for e in log["rounds"]])
    atomic.write_json(file, log)


def render_log(log: dict) -> str:
    """The end-of-run lines: a round each, then the status."""
    lines = []
    for entry in log["rounds"]:
        valid = sum(a["valid"] for a in entry["attempts"])
        accepted = entry["accepted"]
        outcome = (f"feature{accepted['feature']} accepted (conflicts: "
                   f"{', '.join(f'feature{k} {c}' for k, c in accepted['conflicts'].items())})"
                   if accepted and "feature" in accepted else entry["why_none"])
        lines.append(f"round {entry['round']}: {entry['model']}, {valid}/{len(entry['attempts'])} valid; {outcome}")
    lines.append(log["status"])
    if any(e["replay"] for e in log["rounds"]):
        lines.append("note: replays of recorded sessions, not a live model's work")
    return "\n".join(lines) + "\n"

