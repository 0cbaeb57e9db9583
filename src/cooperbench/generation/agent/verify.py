"""cooperbench-verify: the agent checks its candidate before it submits, and the grader answers.

The command on the agent's PATH (tasks/environment.py puts it there) only asks: it prints VERIFY_REQUEST
and its arguments. The agent's environment (loop.SandboxEnvironment) sees the request once the
command has run and answers it from outside the sandbox: it takes the work tree's diff as the
pipeline will (sandbox/worktree.py), splits it as the split stage will, and validates it with the
verdict's own code (validation/candidate.py) in fresh sandboxes, each test run bounded by the agent's
command timeout. So nothing of the check runs where the agent could reach it (and runner.sh, which
resets the repository, never touches the agent's work tree), and it needs no network and no key.

It is advice: the pipeline's verdict is computed again, outside, from the submitted diff. For the
same diff the two agree by construction, under `require: hard` (a hard conflict): the resolver's
part of `require: solvable` comes only after submission.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from cooperbench.generation.agent.loop import Verify
from cooperbench.generation.conflicts.detect import candidate_conflicts
from cooperbench.generation.core.contract import VERIFY_COMMAND
from cooperbench.generation.errors import GenerationError
from cooperbench.generation.grading.grade import not_a_candidate
from cooperbench.generation.patches.gitutil import patch_applies
from cooperbench.generation.patches.splitter import Split, split_diff
from cooperbench.generation.sandbox import worktree
from cooperbench.generation.sandbox.base import Sandbox
from cooperbench.generation.schemas import AgentSettings, ValidationSettings
from cooperbench.generation.tasks.task import Task
from cooperbench.generation.validation.candidate import validate_candidate

RULE = "hard"  # the strongest rule checkable before submission
USAGE = f"usage: {VERIFY_COMMAND} [--json]  (checks the work tree as the pipeline will check your submission)"


@dataclass
class Verifier:
    """Answers an agent's cooperbench-verify requests, up to `limit` of them per run."""

    task: Task
    git_dir: Path
    settings: ValidationSettings
    limit: int
    calls: int = field(default=0)

    def answer(self, sandbox: Sandbox, arguments: list[str]) -> str:
        if arguments not in ([], ["--json"]):
            return USAGE + "\n"
        if self.calls >= self.limit:
            return f"{VERIFY_COMMAND}: this run's {self.limit} checks are used up; the pipeline still checks your submission\n"
        self.calls += 1
        summary = check(sandbox, self.task, self.git_dir, self.settings)
        return json.dumps(summary, indent=1) + "\n" if arguments == ["--json"] else render(summary)


def verifier_for(task: Task, git_dir: Path, settings: AgentSettings, backend: str) -> Verify | None:
    """A run's answer to cooperbench-verify (None when `agent.verify_calls` is 0: not offered)."""
    if not settings.agent.verify_calls:
        return None
    checks = ValidationSettings.of(timeout=settings.agent.command_timeout, require=RULE, backend=backend)
    return Verifier(task, git_dir, checks, settings.agent.verify_calls).answer


def check(sandbox: Sandbox, task: Task, git_dir: Path, settings: ValidationSettings) -> dict:
    """The candidate in `sandbox` now, graded as the pipeline will grade it if submitted."""
    diff, problem = worktree.work_tree_diff(sandbox, task.base_commit)
    split = split_diff(diff, origin="the work tree", test_patterns=task.test_patterns,
                       description=worktree.description(sandbox))
    split.no_diff = problem
    if split.problems:
        verdict = not_a_candidate(task, split.problems, settings.backend)
        if split.feature_patch and patch_applies(git_dir, task.base_commit, split.feature_patch) is None:
            verdict["conflict_result"] = candidate_conflicts(task, git_dir, split.feature_patch)  # early news
    else:
        try:
            verdict = validate_candidate(task, split.feature_patch, split.tests_patch, git_dir=git_dir, settings=settings)
        except GenerationError as exc:  # the candidate's own fault (a patch over the size limit)
            verdict = not_a_candidate(task, [("too_big", str(exc))], settings.backend)
    return summarize(split, verdict)


def summarize(split: Split, verdict: dict) -> dict:
    """What the agent is told: the verdict's findings, no timings or host paths."""
    checks = verdict["checks"]
    fail_to_pass, pass_to_pass = checks.get("fail_to_pass") or {}, checks.get("pass_to_pass") or {}
    pairs = verdict["conflict_result"]["pairs"]
    return {
        "valid": verdict["valid"],
        "rule": RULE,
        "reasons": verdict["reasons"],
        "conflicts": verdict["conflict_result"]["conflicts"],
        "classes": {str(p["feature"]): p["class"] for p in pairs if p.get("class")},
        "fail_to_pass": fail_to_pass.get("tests", []),
        "still_failing": fail_to_pass.get("still_failing", []),
        "broken": pass_to_pass.get("broken", []),
        "source_files": split.source_files,
        "test_files": split.test_files,
        "dropped": split.dropped,
    }


def render(summary: dict) -> str:
    """The short report a person (or a model) reads."""
    lines = [f"{VERIFY_COMMAND}: {'VALID' if summary['valid'] else 'NOT VALID'} (your work tree, checked as the pipeline "
             "will check your submission)"]
    lines.append(f"  source files: {', '.join(summary['source_files']) or 'none'}; "
                 f"test files: {', '.join(summary['test_files']) or 'none'}")
    lines += [f"  left out: {d['path']} ({d['reason']})" for d in summary["dropped"]]
    if summary["fail_to_pass"] or summary["broken"]:
        lines.append(f"  fail-to-pass: {len(summary['fail_to_pass'])} test(s); broken: {len(summary['broken'])}")
    classes = summary["classes"]
    conflicts = [f"feature{k}" + (f" ({classes[str(k)]})" if str(k) in classes else "") for k in summary["conflicts"]]
    lines.append(f"  conflicts with: {', '.join(conflicts) or 'none'}")
    lines += [f"  - {reason}" for reason in summary["reasons"]]
    lines.append("Fix what it says and run it again." if not summary["valid"] else
                 "Submit when you are done; the pipeline checks the submission again.")
    return "\n".join(lines) + "\n"
