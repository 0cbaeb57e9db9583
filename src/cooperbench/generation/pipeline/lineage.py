"""Does every generated feature.patch trace to its inputs? For each attempt params.yaml names:
its agent record names the prompt, task files, settings, backend and code version it came from
(compared with what they are now), its split is what splitting its diff gives, and its verdict
was computed from that split."""

from __future__ import annotations

import json
from pathlib import Path

from cooperbench.generation.core.keys import attempt_record
from cooperbench.generation.core.records import digest_folder
from cooperbench.generation.patches.splitter import split_diff
from cooperbench.generation.pipeline.agent import settings_for
from cooperbench.generation.pipeline.common import PROMPTS, attempts, load_params, load_tasks


def check(params_path: Path) -> tuple[str, int]:
    """(report text, number of attempts whose lineage is broken)."""
    params = load_params(params_path)
    tasks = load_tasks(params, params_path)
    task_files = {name: digest_folder(task.path) for name, task in tasks.items()}
    lines, broken = [], 0
    for slug in params.models:
        for task_name, k, paths in attempts(params, slug):
            problems = []
            if not paths.outcome.is_file():
                problems.append("no agent output")
            else:
                recorded = json.loads(paths.outcome.read_text()).get("inputs", {})
                prompt = (PROMPTS / task_name / "prompt.md").read_text(encoding="utf-8")
                now = attempt_record(task_name, k, prompt, task_files[task_name], settings_for(params, slug), params.backend)["inputs"]
                problems += [f"{name} changed since it ran" for name in now if recorded.get(name) != now[name]]
                if paths.feature_patch.is_file():
                    again = split_diff(paths.diff.read_text(encoding="utf-8", errors="surrogateescape"),
                                       test_patterns=tasks[task_name].test_patterns,
                                       description=paths.description.read_text(encoding="utf-8", errors="replace") or None)
                    if again.feature_patch != paths.feature_patch.read_text(encoding="utf-8", errors="surrogateescape"):
                        problems.append("feature.patch is not the split of the agent's diff")
                else:
                    problems.append("no split")
                if not paths.verdict_json.is_file():
                    problems.append("no verdict")
            broken += bool(problems)
            lines.append(f"{slug} {task_name} attempt{k}: " + ("; ".join(problems) if problems else "traces to its inputs"))
    lines.append(f"{len(lines)} attempts, {broken} with broken lineage")
    return "\n".join(lines) + "\n", broken
