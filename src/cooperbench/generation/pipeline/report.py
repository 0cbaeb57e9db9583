"""The report: per-model metrics (DVC metrics), per-task results, a Markdown report explaining
every attempt, and plot data.

Only the tasks, models and attempts that params.yaml names now are counted. Failure reasons are
counted by their short stable keys (`no_conflict`, `breaks_tests`, ...); the sentences stay in
the report's table of attempts.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from cooperbench.generation.conflicts.detect import conflict_matrix
from cooperbench.generation.core.layout import GENERATED, AttemptPaths
from cooperbench.generation.errors import GenerationError
from cooperbench.generation.grading.grade import apply_judgement, apply_rule
from cooperbench.generation.grading.novelty import COPY_SIMILARITY, closest_feature
from cooperbench.generation.pipeline.audit import audit_file
from cooperbench.generation.pipeline.charts import conflict_heatmap, success_bars
from cooperbench.generation.pipeline.common import (
    TASK_PARAMS,
    Stage,
    attempts,
    check_inputs,
    checked_tasks,
    git_dir_for,
    model_failures,
)
from cooperbench.generation.schemas import (
    TEAM_STATUSES,
    Judgement,
    Params,
    Resolution,
    Team,
    Usage,
    Verdict,
    dump,
    read_json,
)
from cooperbench.generation.tasks.task import Task
from cooperbench.generation.util import atomic
from cooperbench.generation.validation.selfcheck import Quality, render_quality

STAGE = Stage(
    "report",
    "report.md, metrics.json and the plots, over every model.",
    params=("models", "attempts", "repos", "validation.require", "judge.require_ok", *TASK_PARAMS),
    deps=("generated/audit", "generated/prompts", "generated/index"),
    outs=("generated/report.md", "generated/tasks.json", "generated/plots/models.json", "generated/plots/conflicts.json",
          "generated/plots/images"),
    metrics=("generated/metrics.json",), cache=False,
)


def read_attempt(task: str, attempt: int, paths: AttemptPaths, require: str, require_ok: bool = False) -> dict:
    """An attempt's records, its verdict graded under `require` with the resolver's records of its
    hard pairs in it (so `require: solvable` counts what the resolve stage found) and, with
    `require_ok`, the judge's label; the judge's and the solver teams' records beside it."""
    verdict = dump(read_json(paths.verdict_json, Verdict))
    for pair in verdict["conflict_result"]["pairs"]:
        if pair.get("class") == "hard" and paths.resolution(pair["feature"]).is_file():
            pair["resolution"] = dump(read_json(paths.resolution(pair["feature"]), Resolution))
    judgement = dump(read_json(paths.judgement, Judgement)) if paths.judgement.is_file() else None
    teams = [dump(read_json(file, Team)) for file in sorted(paths.teams.glob("vs_feature*.json"))
             if not file.name.endswith(".traj.json")] if paths.teams.is_dir() else []
    verdict = apply_rule(verdict, require)
    return {
        "task": task,
        "attempt": attempt,
        "paths": paths,
        "verdict": apply_judgement(verdict, judgement) if require_ok else verdict,
        "usage": dump(read_json(paths.usage, Usage)),
        "judgement": judgement,
        "teams": teams,
    }


def quality(attempts: list[dict]) -> dict:
    """What makes a valid feature one a benchmark can trust, over some attempts: steady over
    reruns (against the attempts whose flaky tests failed them), every part needed, the judge's
    labels, and per solver model how its teams did on the valid features' solvable pairs."""
    valid = [a for a in attempts if a["verdict"]["valid"]]
    steady = sum(a["verdict"]["checks"].get("fail_to_pass", {}).get("rounds", 0) > 1 for a in valid)
    flaky = sum("flaky_tests" in a["verdict"]["reason_keys"] for a in attempts)
    parted = [a["verdict"]["checks"]["needed"] for a in valid if a["verdict"]["checks"].get("needed")]
    labels = Counter(a["judgement"]["label"] for a in valid if a["judgement"])
    teams: dict[str, Counter] = {}
    for a in valid:
        for team in a["teams"]:
            teams.setdefault(team["solver"], Counter())[team["status"]] += 1
    return {
        "steady_share": _ratio(steady, steady + flaky, 4),
        "flaky_attempts": flaky,
        "needed_share": _ratio(sum(not n["unneeded"] for n in parted), len(parted), 4),
        "unneeded_parts": sum(len(n["unneeded"]) for n in parted),
        "judge_labels": dict(sorted(labels.items())),
        "well_specified_share": _ratio(labels["ok"], sum(labels.values()), 4),
        "teams": {solver: {"runs": sum(c.values()), **{k: c[k] for k in TEAM_STATUSES},
                           "solve_rate": _ratio(c["solved"], sum(c.values()), 4)} for solver, c in sorted(teams.items())},
    }


def wilson(successes: int, n: int, z: float = 1.96) -> list[float] | None:
    """The 95% Wilson interval of a success rate: over a few attempts, a rate alone says little."""
    if not n:
        return None
    p = successes / n
    centre, half = p + z * z / (2 * n), z * (p * (1 - p) / n + z * z / (4 * n * n)) ** 0.5
    return [round(max(0.0, (centre - half) / (1 + z * z / n)), 4), round(min(1.0, (centre + half) / (1 + z * z / n)), 4)]


def distinct(valid: list[dict], tasks: dict[str, Task]) -> int:
    """Valid features counted once however many attempts wrote them: two attempts' source changes
    as alike as a copy of an existing feature would be (novelty.py: names renamed, strings blanked)
    are one feature."""
    kept: dict[str, list[str]] = {}
    for a in valid:
        task = tasks[a["task"]]
        patch = a["paths"].feature_patch.read_text(encoding="utf-8", errors="surrogateescape")
        seen = kept.setdefault(a["task"], [])
        _, score = closest_feature(patch, dict(enumerate(seen)), task.test_patterns) if seen else (None, 0.0)
        if score < COPY_SIMILARITY:
            seen.append(patch)
    return sum(len(patches) for patches in kept.values())


def _ratio(numerator: float, denominator: float, digits: int = 2) -> float | None:
    """A ratio, or None when there is nothing to divide by (never 0: that would read as a result)."""
    return round(numerator / denominator, digits) if denominator else None


def aggregate(attempts: list[dict], tasks: dict[str, Task]) -> dict:
    """Aggregates over some attempts (one model's, or one model's on one task)."""
    n = len(attempts)
    valid = [a for a in attempts if a["verdict"]["valid"]]
    pairs = [p for a in valid for p in a["verdict"]["conflict_result"]["pairs"] if p.get("class") in ("trivial", "hard")]
    hard = sum(p["class"] == "hard" for p in pairs)
    solved = sum(p.get("resolution", {}).get("status") == "solvable" for p in pairs)
    sessions = [p["resolution"] for p in pairs if p.get("resolution")]
    resolver_costs = [r["cost"] for r in sessions]
    costs = [a["usage"]["cost"] for a in attempts if a["usage"]["cost"] is not None]
    cost_known = len(costs) == n
    tokens = Counter()
    for a in attempts:
        tokens.update(a["usage"]["tokens"])
    return {
        "attempts": n,
        "valid": len(valid),
        "success_rate": round(len(valid) / n, 4) if n else None,
        "success_interval": wilson(len(valid), n),
        "exit_statuses": dict(sorted(Counter(a["usage"]["exit_status"] for a in attempts).items())),
        "mean_steps": round(sum(a["usage"]["steps"] for a in attempts) / n, 2) if n else 0.0,
        "tokens": dict(sorted(tokens.items())),
        "total_cost": round(sum(costs), 6) if cost_known else None,
        "cost_per_valid": round(sum(costs) / len(valid), 6) if cost_known and valid else None,
        "conflicts_per_valid": _ratio(sum(len(a["verdict"]["conflict_result"]["conflicts"]) for a in valid), len(valid)),
        "hard_per_valid": _ratio(hard, len(valid)) if pairs else None,
        "trivial_share": _ratio(len(pairs) - hard, len(pairs), 4),
        "cost_per_hard": _ratio(sum(costs), hard, 6) if cost_known else None,
        "solvable_share": _ratio(solved, hard, 4),
        "cost_per_solvable": _ratio(sum(costs), solved, 6) if cost_known else None,
        "distinct_valid": distinct(valid, tasks),
        "resolver_sessions": len(sessions),
        "resolver_solvable": solved,
        "resolver_steps": sum(r["steps"] for r in sessions),
        "resolver_cost": None if None in resolver_costs else round(sum(resolver_costs), 6),
        "replay": all(a["usage"]["replay"] for a in attempts),
        "failure_reasons": dict(sorted(Counter(k for a in attempts for k in a["verdict"].get("reason_keys", [])).items())),
        **quality(attempts),
    }


def conflict_rows(task: Task, git_dir: Path, accepted: dict[str, Path], classes: dict[tuple[str, str], str]) -> list[dict]:
    """Heatmap rows for one task: existing features and accepted generated ones on both axes; a
    conflicting pair is `trivial` or `hard` where its verdict classified it (a generated feature
    against an existing one), `conflict` elsewhere."""
    extra = {label: patch.read_text(encoding="utf-8", errors="surrogateescape") for label, patch in accepted.items()}
    pairs = conflict_matrix(task, git_dir, extra=extra)
    order = list(dict.fromkeys(_axis(k) for pair in pairs for k in (pair.f1, pair.f2)))
    rows = []
    for pair in pairs:
        a, b = _axis(pair.f1), _axis(pair.f2)
        for x, y in ((a, b), (b, a)):
            kind = classes.get((pair.f1, pair.f2)) or classes.get((pair.f2, pair.f1)) or "conflict"
            rows.append({"task": task.name, "feature": x, "other": y, "conflict": int(pair.has_conflict),
                         "class": kind if pair.has_conflict else "clean"})
    return sorted(rows, key=lambda r: (order.index(r["other"]), order.index(r["feature"])))


RULES = {"conflict": "a conflict with some feature, the seed's rule", "hard": "a conflict git's union merge does not "
         "resolve", "solvable": "a hard conflict the resolver solved"}
MARKS = {"clean": ".", "conflict": "X", "trivial": "t", "hard": "H"}


def _matrix(rows: list[dict]) -> tuple[list[str], dict[str, str], dict[tuple[str, str], str]]:
    """A task's heatmap rows as its axis (names in order), their short labels and the cells' classes."""
    names = list(dict.fromkeys(r["other"] for r in rows))  # rows come sorted by "other"
    return names, {name: _short(name, names) for name in names}, {(r["feature"], r["other"]): r["class"] for r in rows}


CHARTS = Path("plots") / "images"  # under the report's folder: static SVG, rendered offline
SUCCESS_CHART = CHARTS / "success.svg"


def heatmap_chart(task: str) -> Path:
    return CHARTS / f"conflicts-{task.replace('/', '-')}.svg"


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


def _rate(m: dict) -> str:
    """A success rate with its 95% interval, or "-" with no attempts."""
    if m["success_rate"] is None:
        return "-"
    low, high = m["success_interval"]
    return f"{m['success_rate']:.0%} ({low:.0%}-{high:.0%})"


def _number(value: float | None) -> str:
    return "-" if value is None else str(value)


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def _quality_row(slug: str, task: str, m: dict) -> str:
    labels = ", ".join(f"{n} {label}" for label, n in m["judge_labels"].items()) or "-"
    teams = "; ".join(f"{solver}: {t['solved']}/{t['runs']} solved, {t['merge_conflict']} merge conflict, "
                      f"{t['tests_failed']} tests failed" for solver, t in m["teams"].items()) or "-"
    return (f"| {slug} | {task} | {m['valid']} | {_share(m['steady_share'])} | {_share(m['needed_share'])} | "
            f"{labels} | {teams} |")


def ran_as(attempts: list[dict]) -> tuple[str, dict]:
    """What a model slug ran as: its litellm model and settings, from its attempts' own records."""
    ran = {(a["usage"]["model"], repr(a["usage"]["settings"])) for a in attempts}
    if len(ran) != 1:
        return "mixed" if ran else "-", {}
    return attempts[0]["usage"]["model"], attempts[0]["usage"]["settings"]


def render_markdown(metrics: dict, by_model: dict[str, list[dict]], matrices: dict[str, list[dict]],
                    quality: list[Quality] = (), require: str = "conflict", tasks: dict | None = None,
                    failed: dict[str, dict[str, str]] | None = None, judged_ok: bool = False) -> str:
    judged = " and `judge.require_ok` (the judge labels the description ok)" if judged_ok else ""
    lines = ["# Feature generation report", "", f"Validity rule: `validation.require: {require}` ({RULES[require]}){judged}.", ""]
    if failed:
        lines += ["## Models left out", "", "Their stages did not all run (`dvc repro -k` went on without them); the "
                  "rest of this report is the models that did.", "", "| model | stage | error |", "|---|---|---|"]
        lines += [f"| {slug} | {stage} | {error.replace('|', '/')[:300]} |"
                  for slug, errors in failed.items() for stage, error in errors.items()]
        lines.append("")
    if any(m["replay"] for m in metrics.values()):
        lines += ["Models marked (replay) replayed recorded sessions: no live model was called.", ""]
    lines += ["Success rates are given with their 95% (Wilson) interval. Timings are not results: they are in "
              "generated/logs/. Valid: under that rule; hard/valid and the shares count the valid "
              "features' conflicting pairs (trivial: git's union merge already passes both features' tests; "
              "solvable: the resolver's merge passes both). Costs are the feature agent's; the resolver's are in "
              "their own table.", "",
              "| model | attempts | valid | distinct | success | exits | mean steps | tokens in/out | cost | cost/valid | "
              "conflicts/valid | hard/valid | trivial share | solvable share | cost/hard |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for slug, m in metrics.items():
        exits = ", ".join(f"{k} {v}" for k, v in m["exit_statuses"].items())
        share = "-" if m["trivial_share"] is None else f"{m['trivial_share']:.0%}"
        solvable = "-" if m["solvable_share"] is None else f"{m['solvable_share']:.0%}"
        lines.append(f"| {slug}{' (replay)' if m['replay'] else ''} | {m['attempts']} | {m['valid']} | {m['distinct_valid']} | "
                     f"{_rate(m)} | {exits} | {m['mean_steps']} | {m['tokens'].get('prompt', 0)}/{m['tokens'].get('completion', 0)} | "
                     f"{_money(m['total_cost'])} | {_money(m['cost_per_valid'])} | {_number(m['conflicts_per_valid'])} | "
                     f"{_number(m['hard_per_valid'])} | {share} | {solvable} | {_money(m['cost_per_hard'])} |")
    lines += ["", "## Models", "", "| model | litellm model | step limit | cost limit | temperature | wall time limit |",
              "|---|---|---|---|---|---|"]
    for slug, m in metrics.items():
        name, settings = ran_as(by_model[slug])
        model, agent = settings.get("model", {}), settings.get("agent", {})
        lines.append(f"| {slug} | `{name}` | {model.get('step_limit', '-')} | {_money(model.get('cost_limit'))} | "
                     f"{_number(model.get('temperature'))} | {agent.get('wall_time_limit', '-')} s |")
    lines += ["", "## Per task", "", "| task | model | attempts | valid | success |", "|---|---|---|---|---|"]
    for slug in metrics:
        for task, per in (tasks or {}).get(slug, {}).items():
            lines.append(f"| {task} | {slug} | {per['attempts']} | {per['valid']} | {_rate(per)} |")
    if any(m["resolver_sessions"] for m in metrics.values()):
        lines += ["", "## The resolver", "", "Sessions on the hard pairs of each model's valid features (the resolve "
                  "stage; its timings are in generated/logs/resolve/).", "",
                  "| model | sessions | solvable | steps | cost | cost/solvable |", "|---|---|---|---|---|---|"]
        for slug, m in metrics.items():
            solved, cost = m["resolver_solvable"], m["resolver_cost"]
            lines.append(f"| {slug} | {m['resolver_sessions']} | {solved} | {m['resolver_steps']} | {_money(cost)} | "
                         f"{'-' if not solved else _money(None if cost is None else round(cost / solved, 6))} |")
    lines += ["", "## What a benchmark can trust", "", "Of each model's valid features: steady over reruns in shuffled "
              "orders (against the attempts a flaky fail-to-pass test failed), every part of feature.patch needed by a "
              "test, the judge's labels of the description against the tests, and how each solver model's teams of two "
              "agents did on their solvable pairs (CooperBench's protocol: solved / merge conflict / tests failed).", "",
              "| model | task | valid | steady | every part needed | judge | teams |", "|---|---|---|---|---|---|---|"]
    for slug, m in metrics.items():
        lines += [_quality_row(slug, "all", m)] + [_quality_row(slug, task, per)
                                                   for task, per in (tasks or {}).get(slug, {}).items()]
    solvers = sorted({t["solver"] for rows in by_model.values() for a in rows for t in a["teams"]})
    if solvers:
        lines += ["", "### Pairs and teams", "", "Each solvable pair of a valid feature, and how each solver model's team "
                  "did on it: a pair one team solves and another does not separates them.", "",
                  "| task | model | attempt | pair | " + " | ".join(solvers) + " |", "|---|---|---|---|" + "---|" * len(solvers)]
        for slug, rows in by_model.items():
            for a in (a for a in rows if a["verdict"]["valid"] and a["teams"]):
                for pair in sorted({tuple(t["features"]) for t in a["teams"]}):
                    status = {t["solver"]: t["status"] for t in a["teams"] if tuple(t["features"]) == pair}
                    lines.append(f"| {a['task']} | {slug} | {a['attempt']} | {pair[0]}, {pair[1]} | "
                                 + " | ".join(status.get(solver, "-") for solver in solvers) + " |")
    reasons = sorted({k for m in metrics.values() for k in m["failure_reasons"]},
                     key=lambda k: (-sum(m["failure_reasons"].get(k, 0) for m in metrics.values()), k))
    if reasons:
        lines += ["", "## Why attempts failed", "", "Attempts per reason and model (an attempt may have several).", "",
                  "| reason | " + " | ".join(metrics) + " |", "|---|" + "---|" * len(metrics)]
        lines += [f"| `{key}` | " + " | ".join(str(m["failure_reasons"].get(key, 0)) for m in metrics.values()) + " |"
                  for key in reasons]
    lines += ["", "## Attempts", "", "Fail-to-pass: tests of the candidate's that fail without the feature and pass with "
              "it; pass-to-pass: tests passing on the base that still pass (kept/all).", "",
              "| task | model | attempt | exit | steps | cost | valid | fail-to-pass | pass-to-pass | conflicts with | reasons |",
              "|---|---|---|---|---|---|---|---|---|---|---|"]
    for slug, rows in by_model.items():
        for a in rows:
            classes = {p["feature"]: p.get("class") for p in a["verdict"]["conflict_result"]["pairs"]}
            conflicts = ", ".join(f"{c}" + (f" ({classes[c]})" if classes.get(c) else "")
                                  for c in a["verdict"]["conflict_result"]["conflicts"]) or "-"
            reasons_text = "; ".join(a["verdict"]["reasons"]).replace("|", "\\|")[:160] or "-"
            checks = a["verdict"]["checks"]
            f2p = len(checks["fail_to_pass"]["tests"]) if checks.get("fail_to_pass") else "-"
            p2p = checks.get("pass_to_pass")
            kept = f"{len(p2p['tests']) - len(p2p['broken'])}/{len(p2p['tests'])}" if p2p else "-"
            lines.append(f"| {a['task']} | {slug} | {a['attempt']} | {a['usage']['exit_status']} | {a['usage']['steps']} | "
                         f"{_money(a['usage']['cost'])} | {'yes' if a['verdict']['valid'] else 'no'} | {f2p} | {kept} | "
                         f"{conflicts} | {reasons_text} |")
    if quality:
        lines += ["", "## Quality of the tasks' own pairs", "",
                  "Every pair of each task's features, classified (the `audit` stage; `check-dataset --quality`): "
                  "a trivial conflict is one git's union merge of the two whole features already resolves.", "",
                  render_quality(list(quality)).rstrip()]
    if metrics:
        lines += ["", "## Success rates", "", f"![success rate per model, with its 95% interval]({SUCCESS_CHART})"]
    for task_name, rows in matrices.items():
        names, short, cells = _matrix(rows)
        lines += ["", f"## Conflicts in {task_name}", "", f"![conflicts in {task_name}]({heatmap_chart(task_name)})", "",
                  "H: a hard conflict, t: a trivial one (git's union merge of the two features passes both "
                  "features' tests), X: a conflict not classified; . they merge cleanly.", "", "```"]
        lines.append("    " + " ".join(short[n].rjust(3) for n in names))
        for row in names:
            marks = ("-" if row == col else MARKS[cells[(row, col)]] for col in names)
            lines.append(short[row].rjust(3) + " " + " ".join(m.rjust(3) for m in marks))
        lines.append("```")
        lines += [f"- {short[n]}: {n}" for n in names if not n.startswith("feature")]
    return "\n".join(lines) + "\n"


def write_report(by_model: dict[str, list[dict]], tasks: dict[str, tuple[Task, Path]], out: Path,
                 audits: dict[str, dict] | None = None, require: str = "conflict",
                 failed: dict[str, dict[str, str]] | None = None, judged_ok: bool = False) -> str:
    """Write metrics.json (the rule, and per model), tasks.json (per model and task: apart, so
    `dvc exp show` stays narrow), report.md and plots/*.json under `out`; return the report
    text. `audits` (the audit stage's records, by task) give the tasks' own pairs their classes
    and the quality table."""
    audits = audits or {}
    loaded = {name: task for name, (task, _) in tasks.items()}
    metrics = {slug: {"model": ran_as(attempts)[0], **aggregate(attempts, loaded)} for slug, attempts in by_model.items()}
    per_task = {slug: {name: aggregate([a for a in attempts if a["task"] == name], loaded) for name in tasks}
                for slug, attempts in by_model.items()}
    matrices = {}
    for task_name, (task, git_dir) in tasks.items():
        accepted = {f"{slug}/attempt{a['attempt']}": a["paths"].feature_patch
                    for slug, attempts in by_model.items() for a in attempts
                    if a["task"] == task_name and a["verdict"]["valid"]}
        classes = {(f"{slug}/attempt{a['attempt']}", str(p["feature"])): p["class"]
                   for slug, attempts in by_model.items() for a in attempts if a["task"] == task_name and a["verdict"]["valid"]
                   for p in a["verdict"]["conflict_result"]["pairs"] if p.get("class")}
        classes |= {(str(r["f1"]), str(r["f2"])): r["class"] for r in audits.get(task_name, {}).get("pairs", [])
                    if r["has_conflict"]}
        matrices[task_name] = conflict_rows(task, git_dir, accepted, classes)
    quality = [Quality(**audits[name]["quality"]) for name in tasks if name in audits]
    text = render_markdown(metrics, by_model, matrices, quality, require, per_task, failed or {}, judged_ok)
    atomic.write_json(out / "metrics.json", {"require": require, "judge_require_ok": judged_ok, "models": metrics})
    atomic.write_json(out / "tasks.json", per_task)
    atomic.write_json(out / "plots" / "models.json", [  # null, not 0: no valid feature has no cost per valid feature
        {"model": slug, "success_rate": m["success_rate"], "cost_per_valid": m["cost_per_valid"]}
        for slug, m in metrics.items()
    ])
    atomic.write_json(out / "plots" / "conflicts.json", [row for rows in matrices.values() for row in rows])
    write_charts(out, metrics, matrices)
    atomic.write_text(out / "report.md", text)
    return text


def write_charts(out: Path, metrics: dict, matrices: dict[str, list[dict]]) -> None:
    """The static charts, in a folder of their own (charts of tasks no longer named go with it)."""
    with atomic.built(out / CHARTS) as (folder,):
        rows = [(slug, m["success_rate"], m["success_interval"]) for slug, m in metrics.items()]
        atomic.write_text(folder / SUCCESS_CHART.name, success_bars(rows, "Success rate per model (95% interval)"))
        for task_name, task_rows in matrices.items():
            atomic.write_text(folder / heatmap_chart(task_name).name,
                              conflict_heatmap(*_matrix(task_rows), f"Conflicts in {task_name}"))


# ---------------------------------------------------------------- the stage


REPORTED = ("sessions", "split", "verdicts", "resolutions", "judgements", "coop")  # the per-model records read


def run(params: Params) -> None:
    print(build(params, list(params.models), GENERATED), end="")


def build(params: Params, slugs: list[str], out: Path, failed: dict[str, dict[str, str]] | None = None) -> str:
    """The report of `slugs` under `out`; `failed`: models left out, with their stages' errors."""
    tasks = checked_tasks(params)
    for slug in slugs:
        check_inputs(slug, *REPORTED)
    require = params.validation.require
    by_model = {slug: [read_attempt(task, k, paths, require, params.judge.require_ok) for task, k, paths in attempts(params, slug)]
                for slug in slugs}
    located = {name: (task, git_dir_for(params, task)) for name, task in tasks.items()}
    audits = {name: json.loads(audit_file(name).read_text(encoding="utf-8")) for name in tasks}
    return write_report(by_model, located, out, audits, require, failed or {}, params.judge.require_ok)


def partial_report(params: Params, out: Path) -> str:
    """After `dvc repro -k` with a model whose stages failed (so the report stage could not run):
    the report of every model whose stages all ran, written under `out` (never the DVC outputs),
    the others listed with their errors. A model is left out when one of its stages failed last
    time it ran, or its records are not what its stages wrote."""
    ran, failed = [], {}
    for slug in params.models:
        errors = model_failures(slug)
        if not errors:
            try:
                check_inputs(slug, *REPORTED)
                for _task, _k, paths in attempts(params, slug):
                    paths.verdict_json.stat()
            except (GenerationError, OSError) as exc:
                errors = {"records": f"its records are missing or not what its stages wrote ({exc}): `dvc repro` it"}
        if errors:
            failed[slug] = errors
        else:
            ran.append(slug)
    if not ran:
        raise GenerationError("no model's stages all ran: nothing to report (" + "; ".join(
            f"{slug}: {' '.join(f'{stage}: {error}' for stage, error in errors.items())}" for slug, errors in failed.items()) + ")")
    return build(params, ran, out, failed)
