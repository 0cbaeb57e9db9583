"""The report: per-model metrics (DVC metrics), per-task results, a Markdown report explaining
every attempt, and plot data.

Only the tasks, models and attempts that params.yaml names now are counted. Failure reasons are
counted by their short stable keys (`no_conflict`, `breaks_tests`, ...); the sentences stay in
the report's table of attempts.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from cooperbench.generation.conflicts.merge import conflict_matrix
from cooperbench.generation.pipeline.common import (
    attempts,
    check_inputs,
    checked_tasks,
    git_dir_for,
    load_params,
)
from cooperbench.generation.pipeline.layout import GENERATED, AttemptPaths
from cooperbench.generation.schemas import Usage, Verdict, dump, read_json
from cooperbench.generation.tasks.task import Task
from cooperbench.generation.util import atomic


def read_attempt(task: str, attempt: int, paths: AttemptPaths) -> dict:
    return {
        "task": task,
        "attempt": attempt,
        "paths": paths,
        "verdict": dump(read_json(paths.verdict_json, Verdict)),
        "usage": dump(read_json(paths.usage, Usage)),
    }


def _mean(values: list[float], n: int) -> float:
    return round(sum(values) / n, 6) if n else 0.0


def aggregate(attempts: list[dict]) -> dict:
    """Aggregates over some attempts (one model's, or one model's on one task)."""
    n = len(attempts)
    valid = [a for a in attempts if a["verdict"]["valid"]]
    costs = [a["usage"]["cost"] for a in attempts if a["usage"]["cost"] is not None]
    cost_known = len(costs) == n
    tokens = Counter()
    for a in attempts:
        tokens.update(a["usage"]["tokens"])
    return {
        "attempts": n,
        "valid": len(valid),
        "success_rate": round(len(valid) / n, 4) if n else 0.0,
        "exit_statuses": dict(sorted(Counter(a["usage"]["exit_status"] for a in attempts).items())),
        "mean_steps": round(sum(a["usage"]["steps"] for a in attempts) / n, 2) if n else 0.0,
        "tokens": dict(sorted(tokens.items())),
        "total_cost": round(sum(costs), 6) if cost_known else None,
        "cost_per_valid": round(sum(costs) / len(valid), 6) if cost_known and valid else None,
        "wall_time": round(sum(a["usage"]["wall_time"] for a in attempts), 1),
        "mean_wall_time": round(_mean([a["usage"]["wall_time"] for a in attempts], n), 1),
        "conflicts_per_valid": round(sum(len(a["verdict"]["conflict_result"]["conflicts"]) for a in valid) / len(valid), 2) if valid else 0.0,
        "replay": all(a["usage"]["replay"] for a in attempts),
        "failure_reasons": dict(sorted(Counter(k for a in attempts for k in a["verdict"].get("reason_keys", [])).items())),
    }


def conflict_rows(task: Task, git_dir: Path, accepted: dict[str, Path]) -> list[dict]:
    """Heatmap rows for one task: existing features and accepted generated ones on both axes."""
    extra = {label: patch.read_text(encoding="utf-8", errors="surrogateescape") for label, patch in accepted.items()}
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


def _money(value: float | None) -> str:
    return "unknown" if value is None else f"${value:.4f}"


def render_markdown(metrics: dict, per_task: dict, by_model: dict[str, list[dict]], matrices: dict[str, list[dict]]) -> str:
    lines = ["# Feature generation report", ""]
    if any(m["replay"] for m in metrics.values()):
        lines += ["Models marked (replay) replayed recorded sessions: no live model was called.", ""]
    lines += ["| model | attempts | valid | success | exits | mean steps | tokens in/out | cost | cost/valid | wall time | conflicts/valid |",
              "|---|---|---|---|---|---|---|---|---|---|---|"]
    for slug, m in metrics.items():
        exits = ", ".join(f"{k} {v}" for k, v in m["exit_statuses"].items())
        lines.append(f"| {slug}{' (replay)' if m['replay'] else ''} | {m['attempts']} | {m['valid']} | {m['success_rate']:.0%} | "
                     f"{exits} | {m['mean_steps']} | {m['tokens'].get('prompt', 0)}/{m['tokens'].get('completion', 0)} | "
                     f"{_money(m['total_cost'])} | {_money(m['cost_per_valid'])} | {m['wall_time']} s | {m['conflicts_per_valid']} |")
    lines += ["", "## Per task", "", "| task | model | attempts | valid | success |", "|---|---|---|---|---|"]
    for slug, tasks in per_task.items():
        for task, m in tasks.items():
            lines.append(f"| {task} | {slug} | {m['attempts']} | {m['valid']} | {m['success_rate']:.0%} |")
    reasons = Counter(k for m in metrics.values() for k, n in m["failure_reasons"].items() for _ in range(n))
    if reasons:
        lines += ["", "## Why attempts failed", "", "| reason | attempts |", "|---|---|"]
        lines += [f"| `{key}` | {n} |" for key, n in sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0]))]
    lines += ["", "## Attempts", "", "| task | model | attempt | exit | steps | cost | valid | conflicts with | reasons |",
              "|---|---|---|---|---|---|---|---|---|"]
    for slug, rows in by_model.items():
        for a in rows:
            conflicts = ", ".join(str(c) for c in a["verdict"]["conflict_result"]["conflicts"]) or "-"
            reasons_text = "; ".join(a["verdict"]["reasons"]).replace("|", "\\|")[:160] or "-"
            lines.append(f"| {a['task']} | {slug} | {a['attempt']} | {a['usage']['exit_status']} | {a['usage']['steps']} | "
                         f"{_money(a['usage']['cost'])} | {'yes' if a['verdict']['valid'] else 'no'} | {conflicts} | {reasons_text} |")
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
        lines += [f"- {short[n]}: {n}" for n in names if not n.startswith("feature")]
    return "\n".join(lines) + "\n"


def write_report(by_model: dict[str, list[dict]], tasks: dict[str, tuple[Task, Path]], out: Path) -> str:
    """Write metrics.json (per model), report.json (per task), report.md and plots/*.json under
    `out`; return the report text."""
    metrics = {slug: aggregate(attempts) for slug, attempts in by_model.items()}
    per_task = {slug: {name: aggregate([a for a in attempts if a["task"] == name]) for name in tasks}
                for slug, attempts in by_model.items()}
    matrices = {}
    for task_name, (task, git_dir) in tasks.items():
        accepted = {f"{slug}/attempt{a['attempt']}": a["paths"].feature_patch
                    for slug, attempts in by_model.items() for a in attempts
                    if a["task"] == task_name and a["verdict"]["valid"]}
        matrices[task_name] = conflict_rows(task, git_dir, accepted)
    text = render_markdown(metrics, per_task, by_model, matrices)
    atomic.write_json(out / "metrics.json", {"models": metrics})
    atomic.write_json(out / "report.json", {"models": per_task})
    atomic.write_json(out / "plots" / "models.json", [
        {"model": slug, "success_rate": m["success_rate"], "cost_per_valid": m["cost_per_valid"] or 0.0}
        for slug, m in metrics.items()
    ])
    atomic.write_json(out / "plots" / "conflicts.json", [row for rows in matrices.values() for row in rows])
    atomic.write_text(out / "report.md", text)
    return text


# ---------------------------------------------------------------- the stage



def run() -> None:
    params = load_params()
    tasks = checked_tasks(params)
    for slug in params.models:
        check_inputs(slug, "sessions", "split", "verdicts")
    by_model = {slug: [read_attempt(task, k, paths) for task, k, paths in attempts(params, slug)] for slug in params.models}
    located = {name: (task, git_dir_for(params, task)) for name, task in tasks.items()}
    print(write_report(by_model, located, GENERATED), end="")
