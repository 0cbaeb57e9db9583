"""The report: per-model metrics (DVC metrics), a table for the terminal, and plot data.

Only the tasks, models and attempts that params.yaml names now are counted: outputs of a model
removed from params.yaml stay on disk (and in dvc.lock) but do not reach the report.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from cooperbench.generation import atomic
from cooperbench.generation.conflicts import conflict_matrix
from cooperbench.generation.task import Task


def reason_kind(reason: str) -> str:
    """A reason without its particulars, for counting: 'breaks tests that passed before'."""
    return reason.split(":")[0].strip()


def model_metrics(attempts: list[dict]) -> dict:
    """Aggregates over one model's attempts (each: verdict + usage)."""
    n = len(attempts)
    valid = [a for a in attempts if a["verdict"]["valid"]]
    costs = [a["usage"]["cost"] for a in attempts if a["usage"]["cost"] is not None]
    total_cost = sum(costs)
    cost_known = len(costs) == n
    reasons = Counter(reason_kind(r) for a in attempts for r in a["verdict"]["reasons"])
    return {
        "attempts": n,
        "valid": len(valid),
        "success_rate": round(len(valid) / n, 4) if n else 0.0,
        "mean_cost": round(total_cost / n, 6) if cost_known and n else None,
        "cost_per_valid": round(total_cost / len(valid), 6) if cost_known and valid else None,
        "mean_steps": round(sum(a["usage"]["steps"] for a in attempts) / n, 2) if n else 0.0,
        "conflicts_per_valid": round(sum(len(a["verdict"]["conflict_result"]["conflicts"]) for a in valid) / len(valid), 2) if valid else 0.0,
        "replay": all(a["usage"]["replay"] for a in attempts),
        "failure_reasons": dict(sorted(reasons.items())),
    }


def collect(params: dict, attempt_out) -> dict[str, list[dict]]:
    """model slug -> its attempts over all tasks; a missing verdict is an error (stage not run)."""
    by_model: dict[str, list[dict]] = {slug: [] for slug in params["models"]}
    for task_name in params["tasks"]:
        for slug in params["models"]:
            for attempt in params["attempts"]:
                folder = attempt_out(task_name, slug, attempt)
                by_model[slug].append({
                    "task": task_name,
                    "attempt": attempt,
                    "folder": folder,
                    "verdict": json.loads((folder / "verdict.json").read_text()),
                    "usage": json.loads((folder / "agent" / "usage.json").read_text()),
                })
    return by_model


def conflict_rows(task: Task, git_dir: Path, accepted: dict[str, Path]) -> list[dict]:
    """Heatmap rows for one task: existing features and accepted generated ones on both axes."""
    extra = {label: (folder / "feature.patch").read_text() for label, folder in accepted.items()}
    pairs = conflict_matrix(task, git_dir, extra=extra)
    order = list(dict.fromkeys(_axis(k) for pair in pairs for k in (pair.f1, pair.f2)))
    rows = []
    for pair in pairs:
        a, b = _axis(pair.f1), _axis(pair.f2)
        for x, y in ((a, b), (b, a)):
            rows.append({"task": task.name, "feature": x, "other": y, "conflict": int(pair.has_conflict)})
    return sorted(rows, key=lambda r: (order.index(r["other"]), order.index(r["feature"])))


def _axis(key: str) -> str:
    return f"feature{key}" if key.isdigit() else key


def _short(name: str, names: list[str]) -> str:
    """f1, f2, ... for existing features; g1, g2, ... for generated ones."""
    if name.startswith("feature"):
        return "f" + name[len("feature"):]
    generated = [n for n in names if not n.startswith("feature")]
    return f"g{generated.index(name) + 1}"


def render_markdown(metrics: dict, by_model: dict[str, list[dict]], matrices: dict[str, list[dict]]) -> str:
    lines = ["# Feature generation report", ""]
    if any(m["replay"] for m in metrics.values()):
        lines += ["Models marked (replay) replayed recorded sessions: no live model was called.", ""]
    lines += ["| model | attempts | valid | success | mean cost | cost/valid | mean steps | conflicts/valid |",
              "|---|---|---|---|---|---|---|---|"]
    for slug, m in metrics.items():
        money = lambda v: "unknown" if v is None else f"${v:.4f}"
        lines.append(f"| {slug}{' (replay)' if m['replay'] else ''} | {m['attempts']} | {m['valid']} | "
                     f"{m['success_rate']:.0%} | {money(m['mean_cost'])} | {money(m['cost_per_valid'])} | "
                     f"{m['mean_steps']} | {m['conflicts_per_valid']} |")
    lines += ["", "## Attempts", "", "| task | model | attempt | valid | conflicts with | reasons |", "|---|---|---|---|---|---|"]
    for slug, attempts in by_model.items():
        for a in attempts:
            conflicts = ", ".join(str(c) for c in a["verdict"]["conflict_result"]["conflicts"]) or "-"
            lines.append(f"| {a['task']} | {slug} | {a['attempt']} | {'yes' if a['verdict']['valid'] else 'no'} | "
                         f"{conflicts} | {'; '.join(a['verdict']['reasons'])[:120] or '-'} |")
    for task_name, rows in matrices.items():
        names = list(dict.fromkeys(r["other"] for r in rows))  # rows come sorted by "other"
        short = {name: _short(name, names) for name in names}
        cells = {(r["feature"], r["other"]): r["conflict"] for r in rows}
        lines += ["", f"## Conflicts in {task_name}", "",
                  "X: the two source patches conflict under git merge; . they merge cleanly.", "", "```"]
        lines.append("    " + " ".join(short[n].rjust(3) for n in names))
        for row in names:
            marks = ("-" if row == col else ("X" if cells[(row, col)] else ".") for col in names)
            lines.append(short[row].rjust(3) + " " + " ".join(m.rjust(3) for m in marks))
        lines.append("```")
        generated = [n for n in names if not n.startswith("feature")]
        lines += [f"- {short[n]}: {n}" for n in generated]
    return "\n".join(lines) + "\n"


def write_report(params: dict, tasks: dict[str, tuple[Task, Path]], attempt_out, out: Path) -> str:
    """Write metrics.json, report.md and plots/*.json under `out`; return the report text."""
    by_model = collect(params, attempt_out)
    metrics = {slug: model_metrics(attempts) for slug, attempts in by_model.items()}
    matrices = {}
    for task_name, (task, git_dir) in tasks.items():
        accepted = {f"{slug}/attempt{a['attempt']}": a["folder"]
                    for slug, attempts in by_model.items() for a in attempts
                    if a["task"] == task_name and a["verdict"]["valid"]}
        matrices[task_name] = conflict_rows(task, git_dir, accepted)
    text = render_markdown(metrics, by_model, matrices)
    atomic.write_json(out / "metrics.json", {"models": metrics})
    atomic.write_json(out / "plots" / "models.json", [
        {"model": slug, "success_rate": m["success_rate"], "mean_cost": m["mean_cost"] or 0.0,
         "cost_per_valid": m["cost_per_valid"] or 0.0}
        for slug, m in metrics.items()
    ])
    atomic.write_json(out / "plots" / "conflicts.json", [row for rows in matrices.values() for row in rows])
    atomic.write_text(out / "report.md", text)
    return text
