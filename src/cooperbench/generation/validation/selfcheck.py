"""The check every real feature must pass: validated against the rest of its task, it is valid.

Feature K of a task becomes the candidate, the task without it the task; the verdict must be
what the benchmark's own runner gives an accepted feature. Over a whole dataset the same gives a
table, one row per feature: valid, invalid with its reasons, or the environment's failure named.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path

from cooperbench.generation.conflicts import detect as conflicts
from cooperbench.generation.conflicts.classify import HARD, TRIVIAL, classify_task
from cooperbench.generation.errors import GenerationError, HarnessDisagrees
from cooperbench.generation.tasks.environment import EnvironmentFailure
from cooperbench.generation.tasks.task import Task, find_clone, resolve_repo
from cooperbench.generation.validation.candidate import ValidationSettings, validate_candidate


def without(task: Task, feature_id: int) -> Task:
    task.feature(feature_id)  # one line when there is no such feature
    return replace(task, features=tuple(f for f in task.features if f.id != feature_id))


def check_feature(task: Task, feature_id: int, git_dir: Path, settings: ValidationSettings,
                  aside: frozenset[str] = frozenset()) -> dict:
    feature = task.feature(feature_id)
    return validate_candidate(without(task, feature_id), feature.feature_patch, feature.tests_patch,
                              git_dir=git_dir, settings=settings, aside=aside)


@dataclass
class Row:
    task: str
    feature: int
    outcome: str  # valid | invalid | environment | harness_disagrees (ours) | error
    detail: str
    fail_to_pass: int = 0
    pass_to_pass: int = 0
    broken: int = 0
    conflicts: str = ""
    seconds: float = 0.0
    unneeded: str = ""  # parts of feature.patch no fail-to-pass test needs
    flaky_on_base: str = ""  # the task's tests flaky on the bare base, left out of pass-to-pass


def check_task(task: Task, repos: Path | None, settings: ValidationSettings, features: list[int] | None = None) -> list[Row]:
    """Every feature (or the ones asked for) of one task, one row each."""
    rows = []
    try:
        git_dir = find_clone(task, repos) if repos else resolve_repo(task)
    except GenerationError as exc:
        return [Row(task.name, f.id, "error", str(exc)) for f in task.features if not features or f.id in features]
    for feature in task.features:
        if features and feature.id not in features:
            continue
        started = time.monotonic()
        try:
            verdict = check_feature(task, feature.id, git_dir, settings)
        except HarnessDisagrees as exc:
            rows.append(Row(task.name, feature.id, "harness_disagrees", str(exc).removeprefix(f"{task.name}: "),
                            seconds=round(time.monotonic() - started, 1)))
            continue
        except EnvironmentFailure as exc:
            rows.append(Row(task.name, feature.id, "environment", str(exc).removeprefix(f"{task.name}: "),
                            conflicts=conflicts_alone(task, feature.id, git_dir), seconds=round(time.monotonic() - started, 1)))
            continue
        except Exception as exc:  # a report over many tasks: one that breaks costs only its own rows
            rows.append(Row(task.name, feature.id, "error", f"{type(exc).__name__}: {str(exc)[:300]}",
                            seconds=round(time.monotonic() - started, 1)))
            continue
        checks = verdict["checks"]
        rows.append(Row(
            task.name, feature.id, "valid" if verdict["valid"] else "invalid",
            "; ".join(verdict["reasons"]) or "all checks passed",
            fail_to_pass=len(checks["fail_to_pass"].get("tests", [])),
            pass_to_pass=len(checks["pass_to_pass"].get("tests", [])),
            broken=len(checks["pass_to_pass"].get("broken", [])),
            conflicts=",".join(str(c) for c in verdict["conflict_result"]["conflicts"]),
            seconds=round(time.monotonic() - started, 1),
            unneeded=", ".join(checks.get("needed", {}).get("unneeded", [])),
            flaky_on_base=", ".join(checks["pass_to_pass"].get("flaky_on_base", {})),
        ))
    return rows


def conflicts_alone(task: Task, feature_id: int, git_dir: Path) -> str:
    """The features a feature conflicts with, which need no sandbox: an environment that cannot
    be built here still gets its conflicts column."""
    try:
        found = conflicts.candidate_conflicts(without(task, feature_id), git_dir, task.feature(feature_id).feature_patch)
    except GenerationError:
        return ""
    return ",".join(str(c) for c in found["conflicts"])


def render_table(rows: list[Row]) -> str:
    lines = ["| task | feature | verdict | f2p | p2p kept | broken | conflicts with | unneeded parts | seconds | detail |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        detail = r.detail.replace("|", "\\|")[:200]
        lines.append(f"| {r.task} | {r.feature} | {r.outcome} | {r.fail_to_pass} | {r.pass_to_pass} | {r.broken} | "
                     f"{r.conflicts or '-'} | {r.unneeded or '-'} | {r.seconds} | {detail} |")
    counts = {kind: sum(r.outcome == kind for r in rows)
              for kind in ("valid", "invalid", "environment", "harness_disagrees", "error")}
    lines.append("")
    lines.append(f"{len(rows)} features: " + ", ".join(f"{n} {kind}" for kind, n in counts.items()))
    flaky = {r.task: r.flaky_on_base for r in rows if r.flaky_on_base}
    lines += [f"{task}: flaky on the bare base (left out of pass-to-pass): {tests}" for task, tests in flaky.items()]
    return "\n".join(lines) + "\n"


@dataclass
class Quality:
    """How many of a task's conflicts test coordination at all."""

    task: str
    pairs: int
    conflicting: int
    trivial: int
    hard: int
    all_trivial: list[int]  # features that conflict, and only trivially
    detail: str = ""


def check_quality(task: Task, repos: Path | None, settings: ValidationSettings, jobs: int = 2) -> tuple[Quality, list[dict]]:
    """Every pair of the task's features classified (conflicts/classify.py): the counts, and the records."""

    try:
        git_dir = find_clone(task, repos) if repos else resolve_repo(task)
        records = classify_task(task, git_dir, settings, jobs=jobs)
    except GenerationError as exc:
        return Quality(task.name, 0, 0, 0, 0, [], f"error: {exc}"), []
    return quality_of(task, records), records


def quality_of(task: Task, records: list[dict]) -> Quality:
    """The counts of a task's classified pairs."""

    conflicting = [r for r in records if r["has_conflict"]]
    all_trivial = [f.id for f in task.features
                   if (mine := [r for r in conflicting if f.id in (r["f1"], r["f2"])]) and all(r["class"] == TRIVIAL for r in mine)]
    return Quality(task.name, len(records), len(conflicting), sum(r["class"] == TRIVIAL for r in records),
                   sum(r["class"] == HARD for r in records), all_trivial)


def render_quality(rows: list[Quality]) -> str:
    lines = ["| task | pairs | conflicting | trivial | hard | features whose every conflict is trivial | detail |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r.task} | {r.pairs} | {r.conflicting} | {r.trivial} | {r.hard} | "
                     f"{', '.join(map(str, r.all_trivial)) or '-'} | {r.detail.replace('|', '/')[:160] or '-'} |")
    conflicting, trivial = sum(r.conflicting for r in rows), sum(r.trivial for r in rows)
    share = f" ({trivial / conflicting:.0%} of them trivial)" if conflicting else ""
    lines += ["", f"{len(rows)} tasks: {conflicting} conflicting pairs, {trivial} trivial, "
                  f"{sum(r.hard for r in rows)} hard{share}"]
    return "\n".join(lines) + "\n"
