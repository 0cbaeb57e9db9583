"""Difficulty by the benchmark's own protocol: a team of two solver agents on a pair of features.

As CooperBench evaluates a pair, each agent of the team (the same solver model, any litellm
model or a replayed session: `replay/<name>` plays `<name>.feature<K>.traj.json` for feature K)
gets one feature's description in a sandbox of its own at the base commit; the source parts of
their work trees are merged by git's default merge, and each feature's own tests patch runs on
the merge (agent/resolve.check_resolution: no conflict marker, no harness change, every test of
the feature's suite passes, nothing that passed on the base broken). A pair ends `solved`,
`merge_conflict` (git cannot merge the two changes) or `tests_failed` (it can, and a feature's
tests do not pass). The agents do not message each other: CooperBench's cooperative setting
lets them, this protocol measures the pair without it (docs/validity.md).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from importlib.resources import files
from pathlib import Path
from string import Template

import yaml

from cooperbench.generation.agent.loop import run_agent, settle_trajectory
from cooperbench.generation.agent.resolve import SOLVABLE, check_resolution, source_part
from cooperbench.generation.conflicts.classify import WholeFeature
from cooperbench.generation.conflicts.detect import commit_patches
from cooperbench.generation.patches.gitutil import scratch_repo
from cooperbench.generation.sandbox.backends import open_sandbox
from cooperbench.generation.schemas import AgentSettings, ValidationSettings
from cooperbench.generation.tasks.task import Task
from cooperbench.generation.util.progress import say

SOLVED, MERGE_CONFLICT, TESTS_FAILED = "solved", "merge_conflict", "tests_failed"


def solver_prompt(task: Task, description: str) -> str:
    template = Template(files("cooperbench.generation.agent").joinpath("templates/solve.md").read_text(encoding="utf-8"))
    return template.substitute(task=task.name, base_commit=task.base_commit, description=description.strip())


def solver_templates() -> dict[str, str]:
    return yaml.safe_load(files("cooperbench.generation.agent").joinpath("templates/solver.yaml").read_text(encoding="utf-8"))


def solve(task: Task, git_dir: Path, feature: int, description: str, agent: AgentSettings, backend: str,
          trajectory: Path, label: str = "") -> tuple[str, dict]:
    """One solver on one feature: (the source part of its work, {steps, cost, exit_status})."""
    with open_sandbox(task, backend, git_dir, network=task.network) as sandbox:
        outcome = run_agent(sandbox, solver_prompt(task, description), agent, task, trajectory,
                            templates=solver_templates(), session=f"feature{feature}",
                            on_step=lambda steps, cost: say(f"[{label} feature{feature}] step {steps}  ${cost:.4f}") if label else None)
    if trajectory.exists():
        settle_trajectory(trajectory)
    source = "" if outcome.diff_problem else source_part(outcome.diff, task)
    return source, {"steps": outcome.steps, "cost": outcome.cost, "exit_status": outcome.exit_status,
                    "problem": outcome.diff_problem}


def merge_sources(task: Task, git_dir: Path, sources: dict[int, str]) -> tuple[str | None, list[str]]:
    """(the merge of the two source patches against the base, or None; the files in conflict)."""
    with scratch_repo(git_dir) as scratch:
        commits = [commit_patches(scratch, task.base_commit, [(f"feature{k}'s solver", patch)] if patch.strip() else [],
                                  f"solver of feature{k}")[0] for k, patch in sources.items()]
        merge = scratch.merge([(commits[0], commits[1])])[0]
        if merge.conflict:
            return None, merge.files
        return scratch.diff(task.base_commit, merge.tree), []


def run_team(task: Task, git_dir: Path, pair: tuple[WholeFeature, WholeFeature], descriptions: dict[int, str],
             agent: AgentSettings, validation: ValidationSettings, trajectories: dict[int, Path], label: str = "") -> dict:
    """A team of two `agent` solvers on a pair: {status, evidence, steps, cost} (cost None when
    either session's is unknown)."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        done = {w.id: pool.submit(solve, task, git_dir, w.id, descriptions[w.id], agent, validation.backend,
                                  trajectories[w.id], label) for w in pair}
        work = {k: future.result() for k, future in done.items()}
    sessions = {f"feature{k}": info for k, (_, info) in work.items()}
    costs = [info["cost"] for info in sessions.values()]
    record = {"features": [w.id for w in pair], "steps": {k: info["steps"] for k, info in sessions.items()},
              "cost": None if None in costs else round(sum(costs), 6)}
    merged, conflicting = merge_sources(task, git_dir, {k: source for k, (source, _) in work.items()})
    if merged is None:
        return {**record, "status": MERGE_CONFLICT, "evidence": {"conflicting_files": conflicting, "sessions": sessions}}
    status, evidence = check_resolution(task, git_dir, merged, pair, validation)
    return {**record, "status": SOLVED if status == SOLVABLE else TESTS_FAILED, "evidence": {**evidence, "sessions": sessions}}
