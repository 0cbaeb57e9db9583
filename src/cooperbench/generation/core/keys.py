"""What a result depends on, hashed: the one definition of an attempt's key and of a verdict's,
used alike by the CLI, the API, the DVC stages and `lineage`.

A result published with the key its inputs give now is done: it is kept, never run (or billed)
again. An attempt's key holds its task and number, the sample, the prompt, the task's files, the
model's and the agent's settings, the backend, and the code version of the agent on that backend
(codeversion.py: comments, docstrings, other backends and record keeping do not move it), and
the grader's too when the agent may ask it (`agent.verify_calls`). A
verdict's key holds the split, the agent's ending, the task's files, the validation settings and
the grading code's version on its backend; not the rule (`validation.require`), which a verdict
is regraded under from its own records (grade.apply_rule).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import yaml

from cooperbench.generation.core.codeversion import code_version
from cooperbench.generation.core.layout import AttemptPaths
from cooperbench.generation.core.records import digest_files, key_of
from cooperbench.generation.schemas import AgentSettings, ValidationSettings

AGENT = "cooperbench.generation.agent.loop"  # what makes an attempt
GRADER = "cooperbench.generation.validation.candidate"  # what makes a verdict
PROMPTER = "cooperbench.generation.agent.prompt"  # what makes a prompt
VERIFIER = "cooperbench.generation.agent.verify"  # what answers cooperbench-verify, when it is offered
PLANNER = "cooperbench.generation.agent.decompose"  # what makes a decomposition's plan
ONBOARDER = "cooperbench.generation.onboard.repository"  # what makes onboarded tasks


def prompt_hash(prompt: str) -> str:
    return hashlib.sha256(prompt.encode()).hexdigest()


def attempt_record(task: str, attempt: int, prompt: str, task_files: str, settings: AgentSettings, backend: str) -> dict:
    """An attempt's identity: what it depends on, and the key that hashes it all."""
    inputs = {"prompt": prompt_hash(prompt), "task_files": task_files, "settings": key_of(settings.record()),
              "backend": backend, "code": code_version(AGENT, backend)}
    if settings.agent.verify_calls:  # the agent reads the grader's answers (agent/verify.py)
        inputs["verifier"] = code_version(VERIFIER, backend)
    if settings.agent.templates:  # a project's own templates: their content (not comments), not only their name
        inputs["templates"] = key_of(yaml.safe_load(Path(settings.agent.templates).read_text(encoding="utf-8")))
    record = {"task": task, "attempt": attempt, "sample": settings.agent.sample, "inputs": inputs}
    return {**record, "key": key_of(record)}


def verdict_key(paths: AttemptPaths, task_files: str, settings: ValidationSettings) -> str:
    """The key of an attempt's verdict, from its split files and the agent's outcome."""
    return key_of({"split": digest_files([paths.feature_patch, paths.tests_patch, paths.feature_md, paths.split_json]),
                   "outcome": paths.outcome.read_text(encoding="utf-8"), "task_files": task_files,
                   "settings": settings.model_dump(mode="json", exclude={"require"}),  # a rule only regrades
                   "code": code_version(GRADER, settings.backend)})


def plan_key(task_files: str, settings: AgentSettings, prompt: str) -> str:
    """The key of a decomposition's plan: the task's files, the model's settings, the planning
    prompt (which names the feature and the number of parts) and the planner's code."""
    return key_of({"task_files": task_files, "settings": settings.record(), "prompt": prompt_hash(prompt),
                   "code": code_version(PLANNER)})
