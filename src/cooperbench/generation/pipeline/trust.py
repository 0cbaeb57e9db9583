"""What a benchmark can trust of a dataset's own features (`check-dataset --quality`), checked as
a generated candidate is: steady over reruns, every part needed, the base's flaky tests named, the
description judged (`--judge`), and each hard pair given to teams of solver agents (`--solver`).
Nothing is written: judge sessions and team trajectories live in a scratch folder."""

from __future__ import annotations

import tempfile
from collections import Counter
from pathlib import Path

from cooperbench.generation.agent.coop import run_team
from cooperbench.generation.agent.judge import judge
from cooperbench.generation.conflicts.classify import whole_features
from cooperbench.generation.core.layout import model_slug
from cooperbench.generation.errors import GenerationError
from cooperbench.generation.schemas import AgentSettings, ModelParams, ValidationSettings
from cooperbench.generation.tasks.task import Task
from cooperbench.generation.validation.selfcheck import check_feature


def trust(task: Task, git_dir: Path, settings: ValidationSettings, records: list[dict], judge_model: ModelParams | None,
          template: str, solvers: dict[str, AgentSettings], retries: int = 1) -> tuple[list[dict], list[dict]]:
    """What a benchmark can trust of a task's own features (`check-dataset --quality`), as of a
    candidate: each feature validated against the rest (steady over reruns, every part needed,
    the base's flaky tests), its description judged by `judge_model` (none: not judged), and each
    hard pair of `records` (the task's classified pairs) given to a team of each solver model.
    Returns (a row per feature, a row per team run)."""
    rows, teams = [], []
    with tempfile.TemporaryDirectory(prefix="cooperbench-trust-") as scratch:
        for feature in task.features:
            row: dict = {"task": task.name, "feature": feature.id}
            try:
                verdict = check_feature(task, feature.id, git_dir, settings)
            except GenerationError as exc:
                rows.append({**row, "valid": None, "detail": str(exc)[:300]})
                continue
            checks = verdict["checks"]
            row.update(valid=verdict["valid"], detail="; ".join(verdict["reasons"]),
                       rounds=checks["fail_to_pass"].get("rounds", 0), flaky=sorted(checks["fail_to_pass"].get("flaky", {})),
                       unneeded=checks.get("needed", {}).get("unneeded", []),
                       flaky_on_base=sorted(checks["pass_to_pass"].get("flaky_on_base", {})))
            if judge_model is not None:
                found = judge(task, git_dir, feature.description, feature.feature_patch, feature.tests_patch, judge_model,
                              template, Path(scratch) / f"judge-{feature.id}.json", retries=retries,
                              replay_session=f"feature{feature.id}")
                row.update(judge=found["label"], judge_reasons=found["reasons"])
            rows.append(row)
        wholes = whole_features(task)
        descriptions = {f.id: f.description for f in task.features}
        for record in (r for r in records if r["class"] == "hard"):
            pair = (wholes[record["f1"]], wholes[record["f2"]])
            for name, solver in solvers.items():
                folder = Path(scratch) / f"team-{record['f1']}-{record['f2']}-{model_slug(name)}"
                folder.mkdir()
                found = run_team(task, git_dir, pair, descriptions, solver, settings,
                                 {w.id: folder / f"feature{w.id}.traj.json" for w in pair})
                teams.append({"task": task.name, "pair": [record["f1"], record["f2"]], "solver": name,
                              "status": found["status"], "cost": found["cost"]})
    return rows, teams


def render_trust(rows: list[dict], teams: list[dict]) -> str:
    lines = ["| task | feature | valid | steady | unneeded parts | judge | detail |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        steady = "-" if r["valid"] is None else (f"flaky: {', '.join(r['flaky'])}" if r["flaky"]
                                                 else f"over {r['rounds']} runs" if r["rounds"] > 1 else "not rerun")
        verdict = {True: "valid", False: "invalid", None: "error"}[r["valid"]]
        lines.append(f"| {r['task']} | {r['feature']} | {verdict} | {steady} | {', '.join(r.get('unneeded', [])) or '-'} | "
                     f"{r.get('judge', '-')} | {r['detail'].replace('|', '/')[:160] or '-'} |")
    if teams:
        lines += ["", "| task | pair | solver | team |", "|---|---|---|---|"]
        lines += [f"| {t['task']} | {t['pair'][0]}, {t['pair'][1]} | {t['solver']} | {t['status']} |" for t in teams]
    steady = sum(bool(r["valid"]) and r["rounds"] > 1 for r in rows)
    needed = sum(bool(r["valid"]) and not r["unneeded"] for r in rows)
    labels = Counter(r["judge"] for r in rows if "judge" in r)
    solved = Counter(t["status"] for t in teams)
    lines += ["", f"{len(rows)} features: {sum(bool(r['valid']) for r in rows)} valid, {steady} steady over reruns, "
                  f"{needed} with every part needed"
              + (f"; judge: {', '.join(f'{n} {k}' for k, n in sorted(labels.items()))}" if labels else "")
              + (f"; teams: {', '.join(f'{n} {k}' for k, n in sorted(solved.items()))}" if teams else "")]
    flaky = {r["task"]: r["flaky_on_base"] for r in rows if r.get("flaky_on_base")}
    lines += [f"{task}: flaky on the bare base (left out of pass-to-pass): {', '.join(tests)}" for task, tests in flaky.items()]
    return "\n".join(lines) + "\n"
