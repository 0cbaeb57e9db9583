"""The description judge: does a feature's description specify what its tests check?

One completion of any litellm model (or a replayed session: `replay/<name>` answers with the
recorded answer, no network, no litellm, no tokens), given feature.md, tests.patch and the base code
they reach (the files feature.patch changes and the modules the tests name, as at the base),
answers with a CooperBench-style label (schemas.JUDGE_LABELS) and its reasons. An answer that is
no such label is `unreadable`: the model's doing, recorded, never retried into a label. The
session is saved as a mini-swe-agent trajectory, so a real judgement can be replayed offline.
"""

from __future__ import annotations

import json
import re
from importlib.resources import files
from pathlib import Path, PurePosixPath
from string import Template

from cooperbench.generation.agent.models import litellm_module, price_known
from cooperbench.generation.agent.replay import is_replay, recorded_answer, replay_file
from cooperbench.generation.patches import diffs
from cooperbench.generation.patches.gitutil import read_blob, tree_paths
from cooperbench.generation.schemas import JUDGE_LABELS, ModelParams
from cooperbench.generation.tasks.task import Task
from cooperbench.generation.util import atomic

CODE_LIMIT = 40_000  # characters of base code in the prompt, at most
TEXT_LIMITS = {"description": 20_000, "tests": 60_000}  # the candidate's texts are its own to make long: cut
TRAJECTORY_FORMAT = "mini-swe-agent-1.1"


def shipped_template() -> str:
    return files("cooperbench.generation.agent").joinpath("templates/judge.md").read_text(encoding="utf-8")


def reached_code(task: Task, git_dir: Path, feature_patch: str, tests_patch: str, limit: int = CODE_LIMIT) -> dict[str, str]:
    """The base files the judge reads: those feature.patch changes, then those whose module
    (`a/b.py` as `a.b` or `a/b`) the tests' added lines name, up to `limit` characters."""
    changed = [f.old_path or f.path for f in diffs.parse_diff(feature_patch, "feature.patch") if f.status != "added"]
    added = "\n".join(line[1:] for line in diffs.lines(tests_patch) if line.startswith("+") and not line.startswith("+++"))
    named = []
    for path in sorted(tree_paths(git_dir, task.base_commit)):
        pure = PurePosixPath(path)
        if diffs.is_test_path(path, task.test_patterns) or pure.suffix not in (".py", ".js", ".ts", ".tsx", ".jsx", ".rs", ".go"):
            continue
        stem = str(pure.parent if pure.stem in ("__init__", "index", "mod") else pure.with_suffix(""))
        if stem != "." and re.search(rf"(?<![\w.]){re.escape(stem.replace('/', '.'))}(?![\w])|{re.escape(stem)}(?![\w])", added):
            named.append(path)
    found, left = {}, limit
    for path in dict.fromkeys(changed + named):
        text = read_blob(git_dir, task.base_commit, path)
        if text is None or len(text) > left:
            continue
        found[path], left = text, left - len(text)
    return found


def cut(text: str, limit: int) -> str:
    text = text.strip()
    return text if len(text) <= limit else f"{text[:limit]}\n... ({len(text) - limit} more characters cut)"


def judge_prompt(task: Task, template: str, description: str, tests_patch: str, code: dict[str, str]) -> str:
    """The judge's prompt; the candidate's description and tests cut to TEXT_LIMITS (a judgement
    costs what its prompt costs, and their length is the candidate's to choose)."""
    shown = "\n\n".join(f"### {path}\n\n```\n{text}\n```" for path, text in code.items()) or "(none found)"
    return Template(template).safe_substitute(task=task.name, base_commit=task.base_commit,
                                              description=cut(description, TEXT_LIMITS["description"]),
                                              tests=cut(tests_patch, TEXT_LIMITS["tests"]), code=shown)


def read_label(answer: str) -> tuple[str, str]:
    """(label, reasons) from the model's answer: the first JSON object in it with a known label."""
    for match in re.finditer(r"\{.*?\}", answer, re.S):
        try:
            data = json.loads(match.group(0))
        except json.JSONDecodeError:
            continue
        if isinstance(data, dict) and data.get("label") in JUDGE_LABELS:
            return data["label"], str(data.get("reasons", ""))[:2000]
    return "unreadable", f"the answer holds no label of {', '.join(JUDGE_LABELS)}: {answer.strip()[:300]}"


def judge(task: Task, git_dir: Path, description: str, feature_patch: str, tests_patch: str, model: ModelParams,
          template: str, session: Path, *, retries: int = 1, replay_session: str | None = None) -> dict:
    """One judgement: {label, reasons, model, replay, cost, tokens}; the session written to `session`."""
    prompt = judge_prompt(task, template, description, tests_patch, reached_code(task, git_dir, feature_patch, tests_patch))
    messages = [{"role": "user", "content": prompt}]
    replay = is_replay(model.name)
    if replay:
        text, tokens, cost = recorded_answer(replay_file(model.name, task.path, replay_session)), {"prompt": 0, "completion": 0}, 0.0
    else:
        text, tokens, cost = ask(model, messages, retries)
    label, reasons = read_label(text)
    atomic.write_json(session, {"trajectory_format": TRAJECTORY_FORMAT, "info": {"model": model.name, "replay": replay},
                                "messages": [*messages, {"role": "assistant", "content": text}]})
    return {"label": label, "reasons": reasons, "model": model.name, "replay": replay, "cost": cost, "tokens": tokens}


def ask(model: ModelParams, messages: list[dict], retries: int) -> tuple[str, dict[str, int], float | None]:
    """A live model's answer, its tokens and its cost (None: unknown)."""
    litellm = litellm_module()
    response = litellm.completion(model=model.name, messages=messages, num_retries=max(0, retries - 1), **model.kwargs())
    usage = getattr(response, "usage", None)
    tokens = {"prompt": int(getattr(usage, "prompt_tokens", 0) or 0), "completion": int(getattr(usage, "completion_tokens", 0) or 0)}
    cost = None
    if price_known(model.name):
        try:
            cost = round(float(litellm.completion_cost(completion_response=response)), 6)
        except Exception:
            cost = None
    return response.choices[0].message.content or "", tokens, cost


def check_judge(model: ModelParams, task_path: Path, sessions: list[str | None]) -> None:
    """A replayed judge has a readable answer for each session named (one line otherwise)."""
    if is_replay(model.name):
        for name in sessions:
            recorded_answer(replay_file(model.name, task_path, name))
