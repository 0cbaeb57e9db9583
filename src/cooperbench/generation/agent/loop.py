"""One agent run: mini-swe-agent's DefaultAgent, a litellm (or replay) model, our sandbox.

Our sandboxes are adapted to mini-swe-agent's Environment protocol here, so the agent runs under
our isolation (no network, no secrets in its shell, limits) rather than in mini-swe-agent's own
environments; unlike its LocalEnvironment, ours exposes no host variable to the templates. The
agent submits with COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT; the work tree's diff against the base
is taken independently, so a submission that disagrees with the tree is caught.

How a run ends decides what it is: the model's own endings (submitted, a limit hit, format errors,
a replay out of turns, its context overflowing) are results and are recorded; anything else (an
endpoint that does not answer, a refused key, a sandbox that breaks) is an InfrastructureError:
nothing is written, and the next run tries again.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any, Callable

import yaml

from cooperbench.generation.agent.models import is_model_behaviour, make_model, price_known
from cooperbench.generation.core.contract import DESCRIPTION_FILE, REPO_DIR, VERIFY_COMMAND, VERIFY_REQUEST
from cooperbench.generation.errors import GenerationError, InfrastructureError
from cooperbench.generation.sandbox import worktree
from cooperbench.generation.sandbox.backends import open_sandbox
from cooperbench.generation.sandbox.base import Sandbox
from cooperbench.generation.schemas import AgentSettings
from cooperbench.generation.tasks.task import Task
from cooperbench.generation.util import atomic

# cooperbench-verify's answer (agent/verify.py), handed in so that the agent's code version holds
# the grader only in runs that offer it
Verify = Callable[[Sandbox, list[str]], str]

SUBMIT_MARKER = "COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT"
SANDBOX_LIMIT = "SandboxLimit"  # a limit (disk) closed the agent's sandbox: its result, not a failure to retry
ENDINGS = frozenset({"Submitted", "LimitsExceeded", "TimeExceeded", "RepeatedFormatError", "ReplayExhausted",
                     "ContextWindowExceededError", SANDBOX_LIMIT})



@dataclass
class AgentOutcome:
    exit_status: str
    submission: str
    diff: str
    diff_problem: str | None  # why there is no usable diff (too big, git data gone), or None
    description: str | None
    steps: int
    cost: float | None  # None: the model's price is unknown
    tokens: dict[str, int]
    wall_time: float
    submission_matches_tree: bool


class SandboxEnvironment:
    """mini-swe-agent's Environment protocol over one of our sandboxes."""

    def __init__(self, sandbox: Sandbox, timeout: int, verify: Verify | None = None):
        self.sandbox, self.verify = sandbox, verify
        self.config = {"backend": sandbox.backend, "cwd": REPO_DIR, "timeout": timeout}

    def execute(self, action: dict, cwd: str = "", *, timeout: int | None = None) -> dict[str, Any]:
        from minisweagent.exceptions import LimitsExceeded, Submitted

        limit = timeout or self.config["timeout"]
        result = self.sandbox.run(action.get("command", ""), timeout=limit, cwd=cwd or None)
        notes = []
        if result.timed_out:
            notes.append(f"the command passed its {limit} s time limit and was killed")
        if result.limit:
            notes.append(f"the command hit the sandbox's {result.limit}")
        output = {"output": result.stdout + result.stderr, "returncode": result.exit_code, "exception_info": "; ".join(notes)}
        if self.sandbox.closed_by:  # a limit closed the sandbox: the run ends here, as the agent's own result
            raise LimitsExceeded({"role": "exit", "content": f"the sandbox was closed: {self.sandbox.closed_by}",
                                  "extra": {"exit_status": SANDBOX_LIMIT, "submission": ""}})
        lines = output["output"].lstrip().splitlines(keepends=True)
        asked = next((i for i, line in enumerate(lines) if line.startswith(VERIFY_REQUEST)), None)
        if asked is not None:  # cooperbench-verify ran: its line becomes the answer, the rest stays
            arguments = lines[asked][len(VERIFY_REQUEST):].split()
            lines[asked] = (self.verify(self.sandbox, arguments) if self.verify
                            else f"{VERIFY_COMMAND} is not offered in this run\n")
            output["output"] = "".join(lines)
        if lines and lines[0].strip() == SUBMIT_MARKER and result.exit_code == 0:
            submission = "".join(lines[1:])
            raise Submitted({"role": "exit", "content": submission,
                             "extra": {"exit_status": "Submitted", "submission": submission}})
        return output

    def get_template_vars(self, **kwargs) -> dict[str, Any]:
        """Only what the prompt templates need: never the host's environment."""
        return {**self.config, "repo_dir": REPO_DIR, "description_file": DESCRIPTION_FILE,
                "verify_command": VERIFY_COMMAND if self.verify else "", **kwargs}

    def serialize(self) -> dict:
        return {"info": {"config": {"environment": self.config,
                                    "environment_type": f"{__name__}.{type(self).__name__}"}}}


def agent_templates(own: str | None = None) -> dict[str, str]:
    """The feature-writing agent's mini-swe-agent templates: the shipped ones, with those of
    `own` (params.yaml `agent.templates`, a YAML file of the same keys) over them."""
    shipped = yaml.safe_load(files("cooperbench.generation.agent").joinpath("templates/agent.yaml").read_text(encoding="utf-8"))
    if own is None:
        return shipped
    try:
        given = yaml.safe_load(Path(own).read_text(encoding="utf-8"))
    except OSError as exc:
        raise GenerationError(f"{own}: {(exc.strerror or str(exc)).lower()} (params.yaml agent.templates)") from None
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise GenerationError(f"{own}: invalid YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(given, dict) or not given:
        raise GenerationError(f"{own}: expected a mapping of templates ({', '.join(shipped)})")
    for key, value in given.items():
        if key not in shipped:
            raise GenerationError(f"{own}: unknown template `{key}` (the agent has {', '.join(shipped)})")
        if not isinstance(value, str) or not value.strip():
            raise GenerationError(f"{own}: `{key}` must be a non-empty text")
    return {**shipped, **given}


def run_agent(sandbox: Sandbox, prompt: str, settings: AgentSettings, task: Task, trajectory: Path,
              on_step: Callable[[int, float], None] | None = None, *, templates: dict[str, str] | None = None,
              verify: Verify | None = None, session: str | None = None) -> AgentOutcome:
    """Run the agent to an ending of its own; the trajectory is saved after every step. `session`
    names the recorded session a replay plays (replay.replay_file)."""
    from minisweagent.agents.default import DefaultAgent

    model = make_model(settings.model.name, settings.model.kwargs(), task.path, session, settings.agent.retries)

    class ReportingAgent(DefaultAgent):
        def step(self):
            try:
                return super().step()
            finally:
                if on_step:
                    on_step(self.n_calls, self.cost)

    agent = ReportingAgent(
        model, SandboxEnvironment(sandbox, settings.agent.command_timeout, verify),
        **(templates or agent_templates(settings.agent.templates)),
        step_limit=settings.model.step_limit, cost_limit=settings.model.cost_limit,
        wall_time_limit_seconds=settings.agent.wall_time_limit, output_path=trajectory,
    )
    started = time.monotonic()
    try:
        result = agent.run(prompt)
    except Exception as exc:
        if not is_model_behaviour(exc):
            raise InfrastructureError(f"{task.name}: the agent run failed ({type(exc).__name__}: "
                                      f"{str(exc).splitlines()[0][:200] if str(exc) else 'no message'})") from None
        result = {"exit_status": type(exc).__name__, "submission": ""}
    wall_time = time.monotonic() - started
    diff, diff_problem = worktree.work_tree_diff(sandbox, task.base_commit)
    submission = result.get("submission") or ""
    description = worktree.description(sandbox)
    return AgentOutcome(
        exit_status=result.get("exit_status") or "unknown",
        submission=submission, diff=diff, diff_problem=diff_problem, description=description,
        steps=agent.n_calls,
        cost=round(agent.cost, 6) if price_known(settings.model.name) else None,
        tokens=token_usage(agent.messages),
        wall_time=round(wall_time, 3),
        submission_matches_tree=submission.strip() == diff.strip(),
    )


def run_in_sandbox(task: Task, git_dir: Path, prompt: str, settings: AgentSettings, backend: str, trajectory: Path,
                   **options: Any) -> AgentOutcome:
    """`run_agent` in a fresh sandbox of `task` on `backend` (the network on only where the task
    asks for it); `options` as run_agent takes them."""
    with open_sandbox(task, backend, git_dir, network=task.network) as sandbox:
        return run_agent(sandbox, prompt, settings, task, trajectory, **options)


def token_usage(messages: list[dict]) -> dict[str, int]:
    totals = {"prompt": 0, "completion": 0}
    for message in messages:
        usage = ((message.get("extra") or {}).get("response") or {}).get("usage") or {}
        totals["prompt"] += int(usage.get("prompt_tokens") or 0)
        totals["completion"] += int(usage.get("completion_tokens") or 0)
    return totals


VOLATILE = {"message": ("timestamp",), "response": ("id", "created")}  # when, and the provider's ids


def settle_trajectory(path: Path) -> dict:
    """Rewrite the trajectory mini-swe-agent saved without what depends on the moment (message
    times, response ids) or the host (its own path), so that a replayed session's trajectory is a
    function of its inputs; returns what was taken out, for the run's log."""
    text = path.read_text(encoding="utf-8", errors="surrogateescape").replace(str(path), "trajectory.json")
    data = json.loads(text)
    taken = []
    for message in data.get("messages", []):
        extra = message.get("extra") or {}
        moment = {key: extra.pop(key) for key in VOLATILE["message"] if key in extra}
        response = extra.get("response") if isinstance(extra.get("response"), dict) else {}
        moment |= {f"response_{key}": response.pop(key) for key in VOLATILE["response"] if key in response}
        taken.append(moment)
    atomic.write_json(path, data)
    return {"messages": taken}
