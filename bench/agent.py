"""Agent-loop overhead per step (replay model, local backend: no model latency) and the whole
replayed demo attempt (agent + split + validation), cold (fresh cache: venv built) and warm.
Run: python bench/agent.py"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "dataset" / "miniconf_task" / "task1"
MODEL = "replay/conflicting"


def loop_overhead() -> None:
    from cooperbench.generation.agent import loop as agent_mod
    from cooperbench.generation.agent.prompt import find_hotspots, render_prompt
    from cooperbench.generation.sandbox.backends import open_sandbox
    from cooperbench.generation.schemas import AgentSettings
    from cooperbench.generation.tasks.task import load_task, resolve_repo

    task = load_task(DEMO)
    prompt = render_prompt(task, find_hotspots(task))
    command_time = 0.0
    execute = agent_mod.SandboxEnvironment.execute

    def timed_execute(self, action, cwd="", *, timeout=None):
        nonlocal command_time
        started = time.perf_counter()
        try:
            return execute(self, action, cwd, timeout=timeout)
        finally:
            command_time += time.perf_counter() - started

    agent_mod.SandboxEnvironment.execute = timed_execute
    with open_sandbox(task, "local", resolve_repo(task)) as sandbox, tempfile.TemporaryDirectory() as scratch:
        agent_mod.run_agent(sandbox, prompt, AgentSettings.of(MODEL), task,
                            Path(scratch) / "warmup.json")  # imports and first-call costs out of the way
        command_time = 0.0
        started = time.perf_counter()
        outcome = agent_mod.run_agent(sandbox, prompt, AgentSettings.of(MODEL), task,
                                      Path(scratch) / "t.json")
        total = time.perf_counter() - started
    agent_mod.SandboxEnvironment.execute = execute
    steps = outcome.steps
    print(f"agent loop, {steps} steps: {total:.2f} s in all, commands in the sandbox {command_time:.2f} s")
    print(f"  per step: {total / steps * 1000:.0f} ms, of which loop overhead (agent, litellm, templates, "
          f"trajectory save) {(total - command_time) / steps * 1000:.0f} ms")


def whole_attempt(label: str, output: Path) -> None:
    from cooperbench.generation.api import generate_feature

    started = time.perf_counter()
    result = generate_feature(DEMO, MODEL, "local", output=output)
    print(f"whole replayed attempt, {label}: {time.perf_counter() - started:.2f} s (valid={result.success})")


def main() -> None:
    os.environ["COOPERBENCH_CACHE"] = tempfile.mkdtemp(prefix="cb-bench-cache-")
    with tempfile.TemporaryDirectory() as out:
        whole_attempt("cold (venv built)", Path(out) / "cold")
        whole_attempt("warm (venv reused)", Path(out) / "warm")
    loop_overhead()


if __name__ == "__main__":
    main()
