"""Is a hard conflict solvable? A resolver agent merges the two features; the pipeline checks it.

The resolver (mini-swe-agent with any litellm model, or a replayed session) works in a fresh
sandbox holding the merge in progress: git's default merge of the two features' source, conflict
markers and all, and both features' tests. Its prompt gives both features' descriptions and the files in
conflict. What it leaves is checked apart from anything it says or runs: the source part of its
work tree (test files are not its to change) must hold no conflict marker, and with it each
feature's own tests patch, as the benchmark ships it, must pass in the runner contract with no
test that passed on the base broken. The pair is then `solvable` (its resolution kept as a
patch) or `unsolved`, with the reason.
"""

from __future__ import annotations

import re
from importlib.resources import files
from pathlib import Path
from string import Template

import yaml

from cooperbench.generation.agent.loop import run_agent, settle_trajectory
from cooperbench.generation.conflicts.classify import (
    WholeFeature,
    alone_run,
    judge_union,
    union_merges,
    watched,
    whole_commit,
)
from cooperbench.generation.core.contract import REPO_DIR
from cooperbench.generation.errors import GenerationError
from cooperbench.generation.grading import runcache, tamper
from cooperbench.generation.grading.baseline import base_run
from cooperbench.generation.grading.grade import touched_tests
from cooperbench.generation.grading.screen import harness_of
from cooperbench.generation.patches import diffs
from cooperbench.generation.patches.gitutil import read_blob, scratch_repo
from cooperbench.generation.sandbox.backends import open_sandbox
from cooperbench.generation.schemas import AgentSettings, ValidationSettings
from cooperbench.generation.tasks.task import Task
from cooperbench.generation.util.progress import say

SOLVABLE, UNSOLVED = "solvable", "unsolved"
MERGE_PATCH = "/tmp/.cooperbench-merge.patch"
MARKER = re.compile(r"^(<{7} |>{7} |={7}$)", re.M)


def merge_in_progress(task: Task, git_dir: Path, a: WholeFeature, b: WholeFeature) -> tuple[str, list[str]]:
    """(the patch from the base to the merge in progress, the source files in conflict): the
    source as git's default merge leaves it, conflict markers included; the test files as the
    union merge keeps them (both features' tests, so both suites can run as the resolver works)."""
    with scratch_repo(git_dir) as scratch:
        merge = scratch.merge([(whole_commit(task, scratch, a), whole_commit(task, scratch, b))])[0]
        default, conflicting = scratch.diff(task.base_commit, merge.tree), merge.files
    union = union_merges(task, git_dir, {a.id: a, b.id: b}, [(a.id, b.id)])[(a.id, b.id)]
    if isinstance(union, str):
        raise GenerationError(f"{task.name}: feature{a.id} and feature{b.id}: {union}")
    tests, _ = union
    source = diffs.join([f for f in diffs.parse_diff(default, "the merge") if not diffs.is_test_path(f.path, task.test_patterns)])
    return tests + source, [path for path in conflicting if not diffs.is_test_path(path, task.test_patterns)]


def resolver_prompt(task: Task, a: WholeFeature, b: WholeFeature, descriptions: dict[int, str], conflicting: list[str]) -> str:
    template = Template(files("cooperbench.generation.agent").joinpath("templates/resolve.md").read_text(encoding="utf-8"))
    return template.substitute(task=task.name, base_commit=task.base_commit, a=a.id, b=b.id,
                               a_description=descriptions[a.id].strip(), b_description=descriptions[b.id].strip(),
                               files="\n".join(f"- `{path}`" for path in conflicting) or "- (none)")


def resolver_templates() -> dict[str, str]:
    """The resolver's mini-swe-agent templates (its own: a change to them reruns no feature attempt)."""
    return yaml.safe_load(files("cooperbench.generation.agent").joinpath("templates/resolver.yaml").read_text(encoding="utf-8"))


def source_part(patch: str, task: Task) -> str:
    return diffs.join([f for f in diffs.parse_diff(patch, "the resolution") if not diffs.is_test_path(f.path, task.test_patterns)])


def check_resolution(task: Task, git_dir: Path, source: str, wholes: tuple[WholeFeature, WholeFeature],
                     settings: ValidationSettings) -> tuple[str, dict]:
    """Each feature's own tests patch with the resolution's source, in the runner contract,
    judged against that feature's own run (judge_union): what fails with the feature alone is
    not the resolution's doing."""

    added = "".join(line[1:] + "\n" for line in diffs.lines(source) if line.startswith("+") and not line.startswith("+++"))
    if MARKER.search(added):
        return UNSOLVED, {"problem": "the resolution still holds conflict markers"}
    if not source.strip():
        return UNSOLVED, {"problem": "the resolution changes no source file"}
    own = {path for whole in wholes for path in harness_of(task, git_dir, whole.feature_patch, f"feature{whole.id}")}
    harness = [path for path in harness_of(task, git_dir, source, "the resolution") if path not in own]
    if harness:
        return UNSOLVED, {"problem": f"the resolution changes the test harness: {', '.join(harness)}"}
    screened = tamper.screen(source, "the resolution", lambda path: read_blob(git_dir, task.base_commit, path))
    if screened:
        return UNSOLVED, {"problem": "; ".join(sentence for _, sentence in screened)}
    guard = watched(task, git_dir, source)
    base = base_run(task, git_dir, settings)
    alone = {whole.id: alone_run(task, git_dir, settings, whole) for whole in wholes}
    evidence = {}
    for whole in wholes:
        scope = touched_tests(whole.tests_patch, lambda path: read_blob(git_dir, task.base_commit, path))
        run = runcache.cached_run(task, git_dir, settings, [("tests.patch", whole.tests_patch), ("feature.patch", source)],
                                  f"resolved-feature{whole.id}", guard, network=task.network)[0]
        kind, found = judge_union(run, base, scope, [alone[whole.id]])
        evidence[f"feature{whole.id}"] = found
        if kind != "trivial":  # judge_union's word for "every test of the suite passes, nothing broken"
            return UNSOLVED, {**evidence, "problem": found.get("problem")
                              or f"feature{whole.id}'s tests do not pass with the resolution"}
    return SOLVABLE, evidence


def resolve_pair(task: Task, git_dir: Path, a: WholeFeature, b: WholeFeature, descriptions: dict[int, str],
                 agent: AgentSettings, validation: ValidationSettings, trajectory: Path, *, label: str = "") -> dict:
    """One resolver session on a hard pair and its independent check: the record, with the
    resolution's source patch under `patch` (empty when unsolved)."""
    merge, conflicting = merge_in_progress(task, git_dir, a, b)
    prompt = resolver_prompt(task, a, b, descriptions, conflicting)
    with open_sandbox(task, validation.backend, git_dir, network=task.network) as sandbox:
        sandbox.write_file(MERGE_PATCH, merge.encode("utf-8", "surrogateescape"))
        staged = sandbox.run(f"git apply --whitespace=nowarn {MERGE_PATCH} && rm {MERGE_PATCH}", timeout=120, cwd=REPO_DIR)
        if not staged.ok:
            raise GenerationError(f"{task.name}: the merge in progress could not be set up: {staged.stderr.strip()[:200]}")
        outcome = run_agent(sandbox, prompt, agent, task, trajectory, templates=resolver_templates(),
                            on_step=lambda steps, cost: say(f"[{label}] step {steps}  ${cost:.4f}") if label else None)
    if trajectory.exists():
        settle_trajectory(trajectory)
    diff, problem = outcome.diff, outcome.diff_problem
    record = {"features": [a.id, b.id], "exit_status": outcome.exit_status, "steps": outcome.steps,
              "cost": outcome.cost, "conflicting_files": conflicting}
    if problem:
        return {**record, "status": UNSOLVED, "evidence": {"problem": problem}, "patch": ""}
    source = source_part(diff, task)
    status, evidence = check_resolution(task, git_dir, source, (a, b), validation)
    return {**record, "status": status, "evidence": evidence, "patch": source if status == SOLVABLE else ""}
