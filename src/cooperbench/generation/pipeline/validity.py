"""The validity rule, from one source for every command: params.yaml's `validation`, `resolver`
and `judge` where the file exists, a flag over either, the schema's defaults without a file.

The stages read params.yaml through their declarations; the CLI and the API read it here, so a
`promote` or a `validate` in a project folder grades as `dvc repro` does. Whoever grades says the
rule once (`describe`); verdicts, provenance and the report record it.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cooperbench.generation.core.layout import PARAMS, PARAMS_VARIABLE, AttemptPaths
from cooperbench.generation.core.records import digest_folder
from cooperbench.generation.errors import GenerationError
from cooperbench.generation.pipeline.common import load_params
from cooperbench.generation.pipeline.resolve import solve_attempt
from cooperbench.generation.schemas import AgentParams, AgentSettings, JudgeParams, ValidationSettings
from cooperbench.generation.tasks.task import Task
from cooperbench.generation.util import atomic
from cooperbench.generation.validation.candidate import validate_candidate


def project_params() -> Path:
    """The params.yaml the CLI and the API read: $COOPERBENCH_PARAMS, else the current folder's."""
    return Path(os.environ.get(PARAMS_VARIABLE) or PARAMS)


@dataclass(frozen=True)
class Validity:
    settings: ValidationSettings
    resolver: AgentSettings | None  # runs on hard pairs when the rule is `solvable`
    source: str  # where the rule came from: a flag, a params file, or the default
    judge: JudgeParams = JudgeParams()  # with `require_ok`, promote asks the judge's `ok` too
    agent: AgentParams = AgentParams()  # the agent settings any model here runs with (judge, solvers)

    def describe(self) -> str:
        resolver = f"; resolver {self.resolver.model.name}" if self.settings.require == "solvable" and self.resolver else ""
        judge = f"; judged ok by {self.judge.model.name}" if self.judge.require_ok and self.judge.model else ""
        return f"validity rule: require: {self.settings.require} (from {self.source}){resolver}{judge}"


def checkable(validation: ValidationSettings) -> ValidationSettings:
    """What a verdict can say before any resolver ran: `solvable` is checked as `hard`."""
    return validation.model_copy(update={"require": "hard" if validation.require == "solvable" else validation.require})


def validity(params_file: Path | None, *, backend: str | None = None, timeout: float | None = None,
             require: str | None = None, resolver: str | None = None, graded: bool = True) -> Validity:
    """The rule and settings a command grades with. `graded` False: a command that grades no
    candidate (onboarding, conflict classes) and needs no resolver whatever the rule."""
    params = load_params(params_file) if params_file is not None and params_file.is_file() else None
    settings = ValidationSettings.of(params, backend=backend, timeout=timeout, require=require)
    agent = params.agent if params else AgentParams()
    if resolver:
        chosen = AgentSettings.of(resolver, **agent.model_dump())
    elif params and params.resolver.model:
        chosen = AgentSettings(model=params.resolver.model, agent=agent)
    else:
        chosen = None
    source = "--require" if require else (str(params_file) if params else "the default")
    if graded and settings.require == "solvable" and chosen is None:
        raise GenerationError(f"`require: solvable` (from {source}) needs a resolver model: give --resolver MODEL, "
                              f"or set resolver.model in {params_file or PARAMS}")
    return Validity(settings, chosen, source, params.judge if params else JudgeParams(), agent)


def validate_under(task: Task, git_dir: Path, feature_patch: str, tests_patch: str, description: str | None,
                   rule: Validity, *, label: str) -> dict:
    """A candidate's verdict under the rule; under `solvable`, the resolver on its hard pairs (it
    reads `description`; their records in a scratch folder, shown in the verdict's pairs)."""
    solvable = rule.settings.require == "solvable"
    if solvable and (description is None or rule.resolver is None):
        raise GenerationError(f"{task.name}: `require: solvable` needs the candidate's description and a resolver model")
    verdict = validate_candidate(task, feature_patch, tests_patch, git_dir=git_dir, settings=rule.settings)
    if not solvable:
        return verdict
    with tempfile.TemporaryDirectory(prefix="cooperbench-validate-") as scratch:
        for name, text in (("feature.patch", feature_patch), ("tests.patch", tests_patch), ("feature.md", description)):
            atomic.write_text(Path(scratch) / name, text)
        return solve_attempt(task, git_dir, AttemptPaths.folder(Path(scratch)), verdict, rule.resolver, rule.settings,
                             digest_folder(task.path), label=label)
