"""The `replay/<name>` model: plays a recorded agent session back through the real agent loop.

It reads a mini-swe-agent trajectory (`trajectory_format` mini-swe-agent-1.x) and re-issues its
assistant turns, in order, as the tool calls of a live model's answers (no network, no litellm).
The commands of those turns really run in the sandbox, so the diff, the tests and the verdict
come from this run, not from the recording. Any real session a user saved can be replayed; the
project ships scripted sessions for the demo task. A replay costs nothing and says so: its cost
and tokens are 0 and `usage.json` marks the run as a replay.
"""

from __future__ import annotations

import glob
import json
import time
from pathlib import Path

from cooperbench.generation.errors import GenerationError

REPLAY_PREFIX = "replay/"


def is_replay(model_name: str) -> bool:
    return model_name.startswith(REPLAY_PREFIX)


def replay_file(model_name: str, task_path: Path, session: str | None = None) -> Path:
    """`replay/<name>`: `<task>/replays/<name>.traj.json`, or a path to a trajectory file; for a
    named session (`attempt<k>`, `feature<K>`), `<name>.<session>.traj.json` first when there is
    one (a session per attempt, as a replayed decomposition has; one per feature, as a team of
    solvers has)."""
    name = model_name[len(REPLAY_PREFIX):]
    candidates = [Path(name), task_path / "replays" / f"{name}.traj.json"]
    if session is not None and "/" not in name:
        candidates.insert(0, task_path / "replays" / f"{name}.{session}.traj.json")
    allowed = (task_path.resolve(), Path.cwd().resolve())
    for candidate in candidates:
        if candidate.is_file():
            if not any(candidate.resolve().is_relative_to(root) for root in allowed):
                raise GenerationError(f"{model_name}: {candidate.resolve()} is outside the task folder and the project: refused")
            return candidate
    raise GenerationError(f"{model_name}: no recorded session at {candidates[-1]} (nor a file named {name})")


def read_trajectory(path: Path) -> list[dict]:
    """The messages of a mini-swe-agent trajectory file."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise GenerationError(f"{path}: not a readable trajectory ({exc.__class__.__name__}: {str(exc)[:80]})") from None
    messages = data.get("messages") if isinstance(data, dict) else None
    if not isinstance(messages, list) or not str(data.get("trajectory_format", "")).startswith("mini-swe-agent"):
        raise GenerationError(f"{path}: not a mini-swe-agent trajectory (no trajectory_format / messages)")
    return [m for m in messages if isinstance(m, dict)]


def recorded_answer(path: Path) -> str:
    """The last assistant answer of a recorded one-call session (the judge's)."""
    answers = [m.get("content") for m in read_trajectory(path) if m.get("role") == "assistant"]
    if not answers or not isinstance(answers[-1], str):
        raise GenerationError(f"{path}: the session has no assistant answer")
    return answers[-1]


def recorded_turns(path: Path) -> list[dict]:
    """The assistant turns of a trajectory, each as {content, commands}."""
    turns = []
    for message in read_trajectory(path):
        if message.get("role") != "assistant":
            continue
        commands = _commands(message)
        if not commands:
            raise GenerationError(f"{path}: assistant turn {len(turns) + 1} has no command to replay")
        turns.append({"content": message.get("content") or "", "commands": commands})
    if not turns:
        raise GenerationError(f"{path}: the trajectory has no assistant turns")
    return turns


def _commands(message: dict) -> list[str]:
    """Commands of a turn: the parsed actions mini-swe-agent records, else the bash tool calls."""
    actions = (message.get("extra") or {}).get("actions") or []
    commands = [a["command"] for a in actions if isinstance(a, dict) and isinstance(a.get("command"), str)]
    if commands:
        return commands
    for call in message.get("tool_calls") or []:
        try:
            arguments = json.loads(call["function"]["arguments"])
            commands.append(arguments["command"])
        except (KeyError, TypeError, json.JSONDecodeError):
            continue
    return commands


def sessions(model_name: str, task_path: Path) -> list[Path]:
    """Every session a replay model may play for the task: its own and its named ones."""
    name = model_name[len(REPLAY_PREFIX):]
    own = [] if "/" in name else sorted((task_path / "replays").glob(f"{glob.escape(name)}.*.traj.json"))
    try:
        return [replay_file(model_name, task_path), *own]
    except GenerationError:
        if own:
            return own
        raise


OBSERVATION_TEMPLATE = (  # mini-swe-agent's LitellmModel default: a replayed turn is answered as a live one is
    "{% if output.exception_info %}<exception>{{output.exception_info}}</exception>\n{% endif %}"
    "<returncode>{{output.returncode}}</returncode>\n<output>\n{{output.output}}</output>")


class ReplayModel:
    """mini-swe-agent's model interface, each query answered with the next recorded turn as a live
    tool-calling model's message (content, tool calls, parsed actions). It does not go through
    litellm: importing litellm costs some 6 CPU-s, more than a whole replayed session, in every
    stage process; the live path is litellm's and mini-swe-agent's own (`make_model`)."""

    def __init__(self, model_name: str, turns: list[dict]):
        self.config = {"model_name": model_name, "observation_template": OBSERVATION_TEMPLATE}
        self.turns, self.turn = turns, 0

    def query(self, messages: list[dict], **kwargs) -> dict:
        from minisweagent.exceptions import LimitsExceeded

        if self.turn >= len(self.turns):
            raise LimitsExceeded({"role": "exit", "content": "ReplayExhausted",
                                  "extra": {"exit_status": "ReplayExhausted", "submission": ""}})
        recorded = self.turns[self.turn]
        self.turn += 1
        calls = [{"id": f"replay_{self.turn}_{i}", "type": "function",
                  "function": {"name": "bash", "arguments": json.dumps({"command": command})}}
                 for i, command in enumerate(recorded["commands"])]
        actions = [{"command": command, "tool_call_id": call["id"]} for command, call in zip(recorded["commands"], calls)]
        return {"role": "assistant", "content": recorded["content"], "tool_calls": calls,
                "extra": {"actions": actions, "cost": 0.0, "timestamp": time.time()}}

    def format_message(self, **kwargs) -> dict:
        return kwargs

    def format_observation_messages(self, message: dict, outputs: list[dict], template_vars: dict | None = None) -> list[dict]:
        from minisweagent.models.utils.actions_toolcall import format_toolcall_observation_messages

        return format_toolcall_observation_messages(actions=message.get("extra", {}).get("actions", []), outputs=outputs,
                                                    observation_template=OBSERVATION_TEMPLATE, template_vars=template_vars)

    def get_template_vars(self, **kwargs) -> dict:
        return dict(self.config)

    def serialize(self) -> dict:
        return {"info": {"config": {"model": dict(self.config), "model_type": f"{__name__}.{type(self).__name__}"},
                         "replay": {"session": self.config["model_name"], "turns": len(self.turns)}}}


def make_replay_model(model_name: str, task_path: Path, session: str | None = None) -> ReplayModel:
    return ReplayModel(model_name, recorded_turns(replay_file(model_name, task_path, session)))
