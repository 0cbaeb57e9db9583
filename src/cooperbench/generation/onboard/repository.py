"""One repository's history onboarded: mined, grouped, written, proven; a report of every drop.

The steps (each in its own module): `mine` lists the merged changes and the funnel of those
dropped; `group` picks bases and the changes that apply there, conflicting ones first; `recipe`
derives the environment at the base; `taskfiles` writes the task; `prove` proves the environment
and every feature. A group is tried in a staging folder and moved into place only when at least
`min_features` of its features are proven (the others dropped, with their reasons, and the task
written again without them); a folder onboarding did not write is never replaced.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from cooperbench.generation.errors import GenerationError
from cooperbench.generation.onboard import group as grouping
from cooperbench.generation.onboard.mine import mine
from cooperbench.generation.onboard.prove import FeatureProof, prove_task
from cooperbench.generation.onboard.recipe import RecipeFailure, derive, metadata, project_urls
from cooperbench.generation.onboard.taskfiles import MARKER, write_task
from cooperbench.generation.patches import diffs
from cooperbench.generation.patches.gitutil import run_git
from cooperbench.generation.schemas import OnboardParams
from cooperbench.generation.tasks.environment import EnvironmentFailure
from cooperbench.generation.tasks.task import load_task, source_repo
from cooperbench.generation.util.owners import pid_alive
from cooperbench.generation.validation.candidate import ValidationSettings

REPORT = "onboard-report.json"  # beside the tasks of a repository: the funnel and every group tried (no timings)


def resolve_ref(git_dir: Path, ref: str, source: Path) -> str:
    found = run_git(["rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"], git_dir, check=False).stdout.strip()
    if not found:
        raise GenerationError(f"{source}: no commit {ref!r} in this repository")
    return found


def task_prefix(source: Path, name: str | None) -> str:
    """The dataset folder's name without `_task`: letters, digits and `_`."""
    raw = name or Path(source).name.removesuffix(".bundle").removesuffix(".git")
    slug = re.sub(r"[^A-Za-z0-9]+", "_", raw).strip("_")  # a params.yaml name stays as it is
    if not slug:
        raise GenerationError(f"{source}: no usable name; pass --name")
    return slug


def upstream_url(git_dir: Path, base: str, source: Path) -> str:
    """Where setup.sh clones from: the project's own URL in its metadata at the base, else the
    clone's origin when it is a network URL, else the local path onboarding read."""
    for url in project_urls(metadata(git_dir, base)[1]):
        return url.rstrip("/")
    origin = run_git(["config", "--get", "remote.origin.url"], git_dir, check=False).stdout.strip()
    if re.match(r"^(?:https?|ssh|git)://|^[\w.-]+@[\w.-]+:", origin):
        return origin
    return str(Path(source).resolve())


@dataclass(frozen=True)
class Onboarding:
    """What one onboarding run is given."""

    source: Path
    out: Path
    params: OnboardParams
    validation: ValidationSettings
    name: str | None = None
    ref: str = "HEAD"  # mined up to here


def onboard(run: Onboarding, say: Callable[[str], None]) -> dict:
    """Onboard one repository into `run.out/<name>_task/`; returns the report (also written there)."""
    started = time.monotonic()
    if run.out.exists() and not run.out.is_dir():
        raise GenerationError(f"{run.out}: not a folder (the dataset root the tasks go into)")
    git_dir = source_repo(run.source)
    prefix = task_prefix(run.source, run.name)
    repo_dir = run.out / f"{prefix}_task"
    head = resolve_ref(git_dir, run.ref, run.source)
    params = run.params
    funnel = mine(git_dir, params.limits, ref=head)
    say(f"{prefix}: {funnel.changes} changes on the main line, {len(funnel.candidates)} candidates")
    found = grouping.groups(
        git_dir, funnel.candidates, window=params.window, max_features=params.max_features,
        min_features=params.min_features, test_patterns=diffs.DEFAULT_TEST_PATTERNS, head=head,
        most=params.tries * params.max_tasks * 4)
    say(f"{prefix}: {len(found)} groups of at least {params.min_features} features on one base")
    report = {"repository": str(run.source), "head": head, "funnel": funnel.to_dict(), "groups": [], "tasks": []}
    staging_root = _staging_root(run.out)
    used: set[str] = set()  # the changes of the tasks made: a change is a feature of one task only
    try:
        for group in found:
            if len(report["tasks"]) >= params.max_tasks or len(report["groups"]) >= params.tries * params.max_tasks:
                break
            group = grouping.without(group, used)
            if len(group.members) < params.min_features:
                continue
            entry = _try_group(run, git_dir, prefix, repo_dir, staging_root, group, say)
            report["groups"].append(entry)
            if entry["outcome"] == "task":
                report["tasks"].append(entry["task"])
                used |= set(entry["features"])
    finally:
        shutil.rmtree(staging_root, ignore_errors=True)
    repo_dir.mkdir(parents=True, exist_ok=True)
    (repo_dir / REPORT).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")  # a function of the inputs
    say(f"{prefix}: {len(report['tasks'])} task(s) written to {repo_dir}")
    return {**report, "seconds": round(time.monotonic() - started, 1)}


def _staging_root(out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    for stale in out.glob(".onboard-staging-*"):
        owner = stale.name.rsplit("-", 1)[-1]
        if owner.isdigit() and not pid_alive(int(owner)):
            shutil.rmtree(stale, ignore_errors=True)
    root = out / f".onboard-staging-{os.getpid()}"
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir()
    return root


def _task_id(group: grouping.Group, git_dir: Path) -> int:
    """The first feature's pull request number, as the dataset numbers its tasks; else the
    base's place on the main line."""
    first = group.members[0].change
    if first.pr:
        return first.pr
    return int(run_git(["rev-list", "--count", "--first-parent", group.base], git_dir).stdout.strip())


def _try_group(run: Onboarding, git_dir: Path, prefix: str, repo_dir: Path, staging_root: Path,
               group: grouping.Group, say: Callable[[str], None]) -> dict:
    task_id = _task_id(group, git_dir)
    name = f"{prefix}_task/task{task_id}"
    entry = {"task": name, "base": group.base, "base_date": group.base_date, "tried": group.tried,
             "refused": group.refused, "features": [m.change.commit for m in group.members]}
    target = repo_dir / f"task{task_id}"
    if target.exists() and not (target / MARKER).is_file():
        return {**entry, "outcome": "dropped", "why": f"{target} exists and was not written by onboarding: left as it is"}
    try:
        recipe = derive(git_dir, group.base)
    except RecipeFailure as exc:
        return {**entry, "outcome": "dropped", "why": f"environment: {exc}"}
    url = upstream_url(git_dir, group.base, run.source)
    members = list(group.members)
    record = {"source": str(run.source), "base": group.base, "recipe": list(recipe.sources),
              "features": [m.change.commit for m in members]}
    dropped: list[dict] = []
    say(f"{name}: base {group.base[:10]} ({group.base_date[:10]}), {len(members)} features, "
        f"{len(group.conflicts)} conflicting pairs; proving")
    while True:
        folder = staging_root / f"{prefix}_task" / f"task{task_id}"
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        write_task(folder, group, members, recipe, repo_name=prefix, url=url, record=record)
        try:
            proofs = prove_task(load_task(folder), git_dir, run.validation)
        except (EnvironmentFailure, GenerationError) as exc:
            return {**entry, "outcome": "dropped", "why": f"environment: {exc}", "recipe": list(recipe.sources)}
        failed = [p for p in proofs if not p.proven]
        for proof in failed:
            member = members[proof.feature - 1]
            dropped.append({"commit": member.change.commit, "pull_request": member.change.pr, "why": _why(proof)})
            say(f"{name}: dropped {member.change.commit[:10]} ({dropped[-1]['why'][:120]})")
        if not failed:
            break
        members = [m for m, p in zip(members, proofs) if p.proven]
        record = {**record, "features": [m.change.commit for m in members], "dropped": dropped}
        if len(members) < run.params.min_features:
            return {**entry, "outcome": "dropped", "dropped_features": dropped,
                    "why": f"{len(members)} proven feature(s), fewer than onboard.min_features={run.params.min_features}"}
    record = {**record, "dropped": dropped, "proofs": [p.to_dict() for p in proofs]}
    (folder / MARKER).write_text(json.dumps(record, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    if target.exists():
        shutil.rmtree(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    folder.rename(target)
    conflicts = sorted({tuple(sorted((p.feature, c["feature"]))) for p in proofs for c in p.pairs})
    say(f"{name}: {len(members)} features proven, {len(conflicts)} conflicting pairs")
    return {**entry, "outcome": "task", "features": [m.change.commit for m in members], "dropped_features": dropped,
            "conflicting_pairs": [list(pair) for pair in conflicts], "recipe": list(recipe.sources)}


def _why(proof: FeatureProof) -> str:
    if not proof.valid:
        return "; ".join(proof.reasons)
    plain = proof.plain
    return (f"the runner alone disagrees ({plain['rule']}: base exit {plain['base'].get('exit_code')}, "
            f"before exit {plain['before']['exit_code']}, after exit {plain['after']['exit_code']})")


def render_report(report: dict) -> str:
    """The funnel, every group tried and the tasks made, as markdown."""
    funnel = report["funnel"]
    lines = [f"# Onboarding {report['repository']} (HEAD {report['head'][:12]}, {report['seconds']} s)", "",
             "| filter | dropped | why |", "|---|---|---|"]
    lines += [f"| {name} | {row['count']} | {row['why']} |" for name, row in funnel["dropped"].items()]
    lines += [f"| **candidates** | **{funnel['candidates']}** of {funnel['changes']} changes | |", "",
              "| task | base | features tried | proven | conflicting pairs | outcome |", "|---|---|---|---|---|---|"]
    for group in report["groups"]:
        proven = len(group["features"]) if group["outcome"] == "task" else "-"
        pairs = len(group.get("conflicting_pairs", [])) if group["outcome"] == "task" else "-"
        tried = len(group["features"]) + len(group.get("dropped_features", []))
        outcome = "task" if group["outcome"] == "task" else "dropped: " + group["why"].replace("|", "/")[:160]
        lines.append(f"| {group['task']} | {group['base'][:10]} ({group['base_date'][:10]}) | {tried} | {proven} | "
                     f"{pairs} | {outcome} |")
    lines += ["", f"{len(report['tasks'])} task(s): {', '.join(report['tasks']) or 'none'}"]
    return "\n".join(lines) + "\n"
