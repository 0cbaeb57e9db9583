"""One agent run: mini-swe-agent's DefaultAgent, a litellm (or replay) model, our sandbox.

The sandbox backends are adapted to mini-swe-agent's Environment protocol here, so the agent runs
under our isolation (no network for `local`, no secrets in its shell) rather than in
mini-swe-agent's own environments. Unlike mini-swe-agent's LocalEnvironment, ours exposes no host
environment variables as template variables. The agent submits with
COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT; the work tree's diff against the base is taken
independently, so a submission that disagrees with the tree is caught.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import threading
import time
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Any, Callable

import yaml

from cooperbench.generation import atomic
from cooperbench.generation.errors import GenerationError
from cooperbench.generation.progress import say
from cooperbench.generation.prompt import DESCRIPTION_FILE
from cooperbench.generation.replay import is_replay, make_replay_model, recorded_turns, replay_file
from cooperbench.generation.sandbox import Sandbox, is_secret, open_sandbox
from cooperbench.generation.sandbox.base import REPO_DIR
from cooperbench.generation.task import Task

os.environ.setdefault("MSWEA_SILENT_STARTUP", "1")
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no network fetch of the price list

SUBMIT_MARKER = "COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT"


@dataclass(frozen=True)
class AgentSettings:
    """Limits and model settings of one run (params.yaml `agent` and `models.<slug>`)."""

    model: str = "gemini/gemini-3-flash-preview"
    step_limit: int = 75
    cost_limit: float = 2.0
    wall_time_limit: int = 3600  # seconds
    command_timeout: int = 180  # seconds, per agent command
    model_kwargs: dict = field(default_factory=dict)  # e.g. {"temperature": 0.0}


@dataclass
class AgentOutcome:
    exit_status: str
    submission: str
    diff: str
    description: str | None
    steps: int
    cost: float | None  # None: the model's price is unknown
    tokens: dict[str, int]
    wall_time: float
    submission_matches_tree: bool


# ---------------------------------------------------------------- the environment


class SandboxEnvironment:
    """mini-swe-agent's Environment protocol over one of our sandboxes."""

    def __init__(self, sandbox: Sandbox, timeout: int):
        self.sandbox = sandbox
        self.config = {"backend": sandbox.backend, "cwd": REPO_DIR, "timeout": timeout}

    def execute(self, action: dict, cwd: str = "", *, timeout: int | None = None) -> dict[str, Any]:
        from minisweagent.exceptions import Submitted

        limit = timeout or self.config["timeout"]
        result = self.sandbox.run(action.get("command", ""), timeout=limit, cwd=cwd or None)
        output = {
            "output": result.stdout + result.stderr,
            "returncode": result.exit_code,
            "exception_info": f"the command passed its {limit} s time limit and was killed" if result.timed_out else "",
        }
        lines = output["output"].lstrip().splitlines(keepends=True)
        if lines and lines[0].strip() == SUBMIT_MARKER and result.exit_code == 0:
            submission = "".join(lines[1:])
            raise Submitted({"role": "exit", "content": submission,
                             "extra": {"exit_status": "Submitted", "submission": submission}})
        return output

    def get_template_vars(self, **kwargs) -> dict[str, Any]:
        """Only what the prompt templates need: never the host's environment."""
        return {**self.config, "repo_dir": REPO_DIR, "description_file": DESCRIPTION_FILE, **kwargs}

    def serialize(self) -> dict:
        return {"info": {"config": {"environment": self.config,
                                    "environment_type": f"{__name__}.{type(self).__name__}"}}}


# ---------------------------------------------------------------- models


def load_dotenv_file(path: Path = Path(".env")) -> None:
    """Provider keys may sit in a git-ignored .env; the environment wins over it."""
    if path.is_file():
        import dotenv

        dotenv.load_dotenv(path, override=False)


def check_model(model_name: str, task_path: Path) -> None:
    """Fail before any sandbox starts: unknown model names, missing API keys, and missing or
    unreadable replay files, in one line."""
    if is_replay(model_name):
        recorded_turns(replay_file(model_name, task_path))
        return
    import litellm

    litellm.suppress_debug_info = True
    load_dotenv_file()
    for name in [k for k, v in os.environ.items() if is_secret(k) and not v.strip()]:
        del os.environ[name]  # an empty key is a missing key, not one to send
    try:
        litellm.get_llm_provider(model_name)
    except Exception:
        raise GenerationError(f"{model_name}: unknown model (litellm names look like provider/model, e.g. gemini/gemini-3-flash-preview)") from None
    missing = litellm.validate_environment(model=model_name).get("missing_keys") or []
    if missing:
        raise GenerationError(f"{model_name}: missing API key: set {' or '.join(missing)} (environment or .env)")


def price_known(model_name: str) -> bool:
    import litellm

    try:
        info = litellm.get_model_info(model_name)
    except Exception:
        return False
    return bool(info.get("input_cost_per_token") or info.get("output_cost_per_token"))


def make_model(settings: AgentSettings, task_path: Path):
    import litellm

    litellm.suppress_debug_info = True  # no "Provider List" banners for unpriced models
    if is_replay(settings.model):
        return make_replay_model(settings.model, task_path)
    from minisweagent.models.litellm_model import LitellmModel

    return LitellmModel(model_name=settings.model, model_kwargs=dict(settings.model_kwargs), cost_tracking="ignore_errors")


# ---------------------------------------------------------------- the run


def agent_templates() -> dict[str, str]:
    return yaml.safe_load(files("cooperbench.generation").joinpath("templates/agent.yaml").read_text(encoding="utf-8"))


def prompt_hash(prompt: str) -> str:
    return hashlib.sha256(prompt.encode()).hexdigest()


def run_agent(
    sandbox: Sandbox,
    prompt: str,
    settings: AgentSettings,
    task_path: Path,
    base_commit: str,
    trajectory_path: Path,
    on_step: Callable[[int, float], None] | None = None,
) -> AgentOutcome:
    """Run the agent to submission or a limit; the trajectory is saved after every step."""
    from minisweagent.agents.default import DefaultAgent

    model = make_model(settings, task_path)

    class ReportingAgent(DefaultAgent):
        def step(self):
            try:
                return super().step()
            finally:
                if on_step:
                    on_step(self.n_calls, self.cost)

    agent = ReportingAgent(
        model,
        SandboxEnvironment(sandbox, settings.command_timeout),
        **agent_templates(),
        step_limit=settings.step_limit,
        cost_limit=settings.cost_limit,
        wall_time_limit_seconds=settings.wall_time_limit,
        output_path=trajectory_path,
    )
    started = time.monotonic()
    try:
        result = agent.run(prompt)
    except Exception as exc:  # a model error that is neither a limit nor a submission
        result = {"exit_status": type(exc).__name__, "submission": ""}
    wall_time = time.monotonic() - started
    diff = work_tree_diff(sandbox, base_commit)
    submission = result.get("submission") or ""
    try:
        description = sandbox.read_file(DESCRIPTION_FILE).decode("utf-8", "replace")
    except (OSError, GenerationError):
        description = None
    known = is_replay(settings.model) or price_known(settings.model)
    return AgentOutcome(
        exit_status=result.get("exit_status") or "unknown",
        submission=submission,
        diff=diff,
        description=description,
        steps=agent.n_calls,
        cost=round(agent.cost, 6) if known else None,
        tokens=token_usage(agent.messages),
        wall_time=round(wall_time, 3),
        submission_matches_tree=submission.strip() == diff.strip(),
    )


def work_tree_diff(sandbox: Sandbox, base_commit: str) -> str:
    """Everything the agent changed, new files included, against the base commit."""
    result = sandbox.run(f"git add -A && git diff --cached --binary {base_commit}", timeout=120)
    if result.exit_code != 0:
        raise GenerationError(f"could not take the work tree's diff: {result.stderr.strip()[:200]}")
    return result.stdout


def token_usage(messages: list[dict]) -> dict[str, int]:
    totals = {"prompt": 0, "completion": 0}
    for message in messages:
        usage = ((message.get("extra") or {}).get("response") or {}).get("usage") or {}
        totals["prompt"] += int(usage.get("prompt_tokens") or 0)
        totals["completion"] += int(usage.get("completion_tokens") or 0)
    return totals


def secret_values() -> list[str]:
    """Values of this process's credential variables, to scrub from anything written."""
    return sorted({v for k, v in os.environ.items() if is_secret(k) and len(v) >= 8}, key=len, reverse=True)


def redact_file(path: Path) -> None:
    """Replace any credential value in a written file (trajectory, logs) by [REDACTED]."""
    if not path.exists():
        return
    text = path.read_text(encoding="utf-8", errors="surrogateescape")
    cleaned = text
    for value in secret_values():
        cleaned = cleaned.replace(value, "[REDACTED]")
        cleaned = cleaned.replace(json.dumps(value)[1:-1], "[REDACTED]")
    if cleaned != text:
        path.write_text(cleaned, encoding="utf-8", errors="surrogateescape")


def agent_step(task: Task, git_dir: Path, prompt: str, settings: AgentSettings, backend: str, out: Path, label: str = "") -> dict:
    """Run the agent in a fresh sandbox; write diff, description, trajectory and usage to `out`."""
    out = Path(out)
    staging = atomic.staging_dir(out)
    try:
        with open_sandbox(task, backend, git_dir, network=bool(task.settings.get("network", False))) as sandbox:
            outcome = run_agent(
                sandbox, prompt, settings, task.path, task.base_commit, staging / "trajectory.json",
                on_step=lambda steps, cost: say(f"[{label}] step {steps}  ${cost:.4f}") if label else None,
            )
        redact_file(staging / "trajectory.json")
        usage = {
            "model": settings.model,
            "replay": is_replay(settings.model),
            "backend": backend,
            "exit_status": outcome.exit_status,
            "steps": outcome.steps,
            "tokens": outcome.tokens,
            "cost": outcome.cost,
            "cost_known": outcome.cost is not None,
            "wall_time": outcome.wall_time,
            "prompt_sha256": prompt_hash(prompt),
            "submission_matches_tree": outcome.submission_matches_tree,
            "limits": {"step_limit": settings.step_limit, "cost_limit": settings.cost_limit,
                       "wall_time_limit": settings.wall_time_limit},
        }
        if usage["replay"]:
            usage["note"] = "a replayed session: the recorded turns were re-issued, the commands really ran"
        atomic.write_text(staging / "diff.patch", outcome.diff)
        atomic.write_text(staging / "description.md", outcome.description or "")
        atomic.write_json(staging / "usage.json", usage)
        atomic.replace_dir(staging, out)
        return usage
    finally:
        shutil.rmtree(staging, ignore_errors=True)
