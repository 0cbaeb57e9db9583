"""One schema per file the pipeline reads or writes (params.yaml, task.yaml, outcome.json,
usage.json, split.json, verdict.json). Unknown keys are refused, defaults live here only, and a
bad file is one line naming the file, the key and the problem."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, field_validator, model_validator

from cooperbench.generation.core.contract import BACKENDS
from cooperbench.generation.errors import GenerationError

# DVC names matrix stages by joining values with "-", and a "." breaks params tracking: a slug is
# letters, digits and "_" only.
Slug = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_]+$")]
TaskName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_]+/task\d+$")]
PositiveInt = Annotated[int, Field(gt=0, strict=True)]
PositiveFloat = Annotated[float, Field(gt=0, allow_inf_nan=False)]
MAX_ATTEMPTS = 10_000  # attempts per task and model: more is a typo, not a plan
MAX_SECONDS = 7 * 24 * 3600  # any time limit: a week
Seconds = Annotated[float, Field(gt=0, le=MAX_SECONDS, allow_inf_nan=False)]
WholeSeconds = Annotated[int, Field(gt=0, le=MAX_SECONDS, strict=True)]
Backend = Literal[tuple(BACKENDS)]  # type: ignore[valid-type]
REQUIRES = ("conflict", "hard", "solvable")  # validation.require: the seed's rule, a hard conflict, a solved one
Require = Literal[REQUIRES]  # type: ignore[valid-type]
DEFAULT_MODEL = "gemini/gemini-3-flash-preview"  # the CLI's and the API's model when none is named


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# ---------------------------------------------------------------- params.yaml


class ModelParams(Strict):
    name: Annotated[str, StringConstraints(min_length=1)]
    step_limit: PositiveInt = 75
    cost_limit: Annotated[float, Field(ge=0, allow_inf_nan=False)] = 2.0
    temperature: float | None = None
    model_kwargs: dict[str, Any] = {}

    def kwargs(self) -> dict[str, Any]:
        extra = {} if self.temperature is None else {"temperature": self.temperature}
        return {**self.model_kwargs, **extra}


AGENT_TEMPLATES = "agents"  # a project's own agent templates live here (a DVC dep of the agent stage)
TemplatesFile = Annotated[str, StringConstraints(pattern=rf"^{AGENT_TEMPLATES}/[A-Za-z0-9_.-]+\.ya?ml$")]


class AgentParams(Strict):
    sample: Annotated[int, Field(ge=0, strict=True)] = 1
    templates: TemplatesFile | None = None  # agents/<name>.yaml over the shipped agent.yaml (its keys only)
    wall_time_limit: WholeSeconds = 3600
    command_timeout: WholeSeconds = 180
    retries: PositiveInt = 3
    max_total_cost: PositiveFloat | None = None
    verify_calls: Annotated[int, Field(ge=0, le=1000, strict=True)] = 10  # cooperbench-verify checks per run (0: not offered)


class PromptParams(Strict):
    max_hotspots: PositiveInt = 8


STRATEGIES = ("generate", "decompose")  # a feature of the agent's own design, or a part of a large existing one


class DecomposeParams(Strict):
    """`--strategy decompose`: which feature is split (null: the largest large one) and what is large."""

    feature: PositiveInt | None = None
    min_files: PositiveInt = 3
    min_lines: PositiveInt = 50


class ValidationParams(Strict):
    timeout: Seconds = 300.0  # per test run
    require: Require = "conflict"  # what a candidate's conflicts must be (grade.apply_rule)
    reruns: Annotated[int, Field(ge=1, le=20, strict=True)] = 3  # runs of each test run, reruns in shuffled orders
    check_parts: bool = True  # a run per part of feature.patch left out (false: none, no part reported)
    require_needed: bool = False  # a feature.patch part no fail-to-pass test needs makes it invalid

    @model_validator(mode="after")
    def _parts_for_the_rule(self) -> "ValidationParams":
        if self.require_needed and not self.check_parts:
            raise ValueError("require_needed needs check_parts: true (the part check finds the unneeded parts)")
        return self


class ValidationSettings(ValidationParams):
    """What one validation runs with: params.yaml `validation` and the sandbox backend."""

    backend: Backend = "local"

    @classmethod
    def of(cls, params: Params | None = None, **given: Any) -> ValidationSettings:
        """The one way to make them: params.yaml's `validation` and `backend` (the defaults
        without a params file), then what a flag or a caller gives (None: not given)."""
        fields = {**params.validation.model_dump(), "backend": params.backend} if params else {}
        return parse(fields | {k: v for k, v in given.items() if v is not None}, cls, "validation settings")


class AgentSettings(Strict):
    """What one agent run is given: its model's settings (`models.<slug>`) and the agent's
    (`agent`). `of` builds it from a model name and any of their fields, for the CLI and the API."""

    model: ModelParams
    agent: AgentParams = AgentParams()

    @classmethod
    def of(cls, name: str = DEFAULT_MODEL, **fields: Any) -> "AgentSettings":
        own = {k: fields.pop(k) for k in list(fields) if k in AgentParams.model_fields}
        return parse({"model": {"name": name, **fields}, "agent": own}, cls, "agent settings")

    def record(self) -> dict:
        """What can change a run's result (sample and the cost cap are the attempt's, not the run's;
        a project's own templates count by their text, in the attempt's key: keys.attempt_record)."""
        agent = self.agent.model_dump(mode="json", exclude={"sample", "max_total_cost", "templates"})
        return {"model": self.model.model_dump(mode="json"), "agent": agent}


class ResolverParams(Strict):
    """The conflict resolver: its model (null: none runs, hard pairs stay unresolved) and limits."""

    model: ModelParams | None = None


JUDGE_LABELS = ("ok", "underspecified", "leaks", "vague")  # CooperBench's labels of a description against its tests
JudgePrompt = Annotated[str, StringConstraints(pattern=rf"^{AGENT_TEMPLATES}/[A-Za-z0-9_.-]+\.md$")]


class JudgeParams(Strict):
    """The description judge (agent/judge.py): its model (null: none runs), its prompt
    (agents/<name>.md over the shipped one, keyed by its text), and whether a valid feature must
    also be judged `ok` (a rule the report and promote apply)."""

    model: ModelParams | None = None
    prompt: JudgePrompt | None = None
    require_ok: bool = False

    @model_validator(mode="after")
    def _judge_for_the_rule(self) -> "JudgeParams":
        if self.require_ok and self.model is None:
            raise ValueError("require_ok needs a judge: name one under judge.model")
        return self


class CoopParams(Strict):
    """Difficulty by the benchmark's own protocol (agent/coop.py): each solver model is a team of
    two agents, one feature each, on a valid feature's solvable pairs."""

    solvers: dict[Slug, ModelParams] = {}


class OnboardLimits(Strict):
    """What a merged change may be to become a feature (onboard/mine.py)."""

    max_source_files: PositiveInt = 5
    max_source_lines: PositiveInt = 400  # added + deleted, source files
    max_test_files: PositiveInt = 5
    max_test_lines: PositiveInt = 600


class OnboardSource(Strict):
    """A repository to onboard: a local clone (or git bundle) with its history, mined up to
    `ref`. A commit id pins it (a new commit there changes nothing); a branch or HEAD is read
    when the stage runs, and DVC cannot see it move (`dvc repro -f -s onboard` reads it again)."""

    path: Annotated[str, StringConstraints(min_length=1)]
    ref: Annotated[str, StringConstraints(min_length=1)] = "HEAD"


class OnboardParams(Strict):
    """`onboard`: repositories whose history becomes tasks, and how many (onboard/)."""

    repos: dict[Slug, OnboardSource] = {}  # the dataset folder's name (without _task) -> its repository
    max_tasks: PositiveInt = 2  # per repository
    min_features: Annotated[int, Field(ge=2, le=12, strict=True)] = 2  # a task with fewer proven ones is dropped
    max_features: Annotated[int, Field(ge=2, le=12, strict=True)] = 5
    window: PositiveInt = 20  # candidates merged after a base that are tried on it
    tries: PositiveInt = 4  # groups proven (environment built, features validated) per task wanted, at most
    grow: bool = True  # the onboarded tasks join `tasks` downstream (prompt, agent, validate)
    limits: OnboardLimits = OnboardLimits()


class Params(Strict):
    tasks: list[TaskName] = []  # under dataset/; onboarded tasks join them (`onboard.grow`)
    models: Annotated[dict[Slug, ModelParams], Field(min_length=1)]
    attempts: Annotated[int, Field(gt=0, le=MAX_ATTEMPTS, strict=True)]
    backend: Backend = "local"
    jobs: PositiveInt = 2
    agent: AgentParams = AgentParams()
    prompt: PromptParams = PromptParams()
    validation: ValidationParams = ValidationParams()
    resolver: ResolverParams = ResolverParams()
    judge: JudgeParams = JudgeParams()
    coop: CoopParams = CoopParams()
    strategy: Literal[STRATEGIES] = "generate"  # type: ignore[valid-type]
    decompose: DecomposeParams = DecomposeParams()
    repos: dict[TaskName, str] = {}
    onboard: OnboardParams = OnboardParams()

    @field_validator("tasks")
    @classmethod
    def _unique(cls, tasks: list[str]) -> list[str]:
        duplicates = sorted({t for t in tasks if tasks.count(t) > 1})
        if duplicates:
            raise ValueError(f"listed twice: {', '.join(duplicates)}")
        return tasks

    @model_validator(mode="after")
    def _some_task(self) -> "Params":
        if not self.tasks and not (self.onboard.grow and self.onboard.repos):
            raise ValueError("no tasks: name some under `tasks`, or repositories under `onboard.repos` (with `onboard.grow`)")
        return self


# ---------------------------------------------------------------- task.yaml


class TestsSettings(Strict):
    command: str
    install: list[str] = []


class TaskSettings(Strict):
    base_commit: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{40}$")] | None = None
    upstream_url: str | None = None
    tests: TestsSettings | None = None
    test_patterns: list[str] | None = None
    network: bool = False


# ---------------------------------------------------------------- what the pipeline writes


class Outcome(Strict):
    """agent/outcome.json: how the run ended; a function of the run's inputs for a replay."""

    exit_status: str
    steps: int
    replay: bool
    submission_matches_tree: bool
    diff_problem: str | None
    key: str = ""
    task: str = ""
    slug: str = ""
    attempt: int = 0
    sample: int = 0
    inputs: dict[str, Any] = {}


class Usage(Strict):
    """sessions/usage.json: what the run cost and what made it."""

    model: str
    replay: bool
    backend: str
    exit_status: str
    steps: int
    tokens: dict[str, int]
    cost: float | None
    cost_known: bool
    prompt_sha256: str
    settings: dict[str, Any]
    provenance: dict[str, Any]
    note: str | None = None


class SplitRecord(Strict):
    source_files: list[str]
    test_files: list[str]
    dropped: list[dict[str, str]]
    has_description: bool
    problems: list[str]
    problem_keys: list[str]


class Resolution(Strict):
    """resolutions/vs_feature<K>.json: the resolver on one hard pair, checked by the pipeline."""

    features: list[int]
    status: Literal["solvable", "unsolved"]
    evidence: dict[str, Any]
    exit_status: str
    steps: int
    cost: float | None
    replay: bool
    conflicting_files: list[str]
    key: str


class Judgement(Strict):
    """judgements/judgement.json: the judge's label of a valid candidate's description."""

    label: Literal[(*JUDGE_LABELS, "unreadable")]  # type: ignore[valid-type]
    reasons: str
    model: str
    replay: bool
    cost: float | None
    tokens: dict[str, int]
    key: str


TEAM_STATUSES = ("solved", "merge_conflict", "tests_failed")


class Team(Strict):
    """coop/vs_feature<K>.<solver>.json: a team of two solver agents on one pair, checked."""

    features: list[int]
    solver: str
    status: Literal[TEAM_STATUSES]  # type: ignore[valid-type]
    evidence: dict[str, Any]
    steps: dict[str, int]
    cost: float | None
    replay: bool
    key: str


class Verdict(Strict):
    valid: bool
    reasons: list[str]
    reason_keys: list[str]
    task: str
    base_commit: str
    backend: str
    checks: dict[str, Any]
    conflict_result: dict[str, Any]
    runs: dict[str, Any]
    scope: dict[str, list[str]] = {}  # the tests patch's test files and the definitions it touches
    require: str = "conflict"  # the rule it was graded under (validation.require)
    agent_exit_status: str | None = None
    key: str = ""


# ---------------------------------------------------------------- reading


def read_yaml(path: Path, schema: type[Strict]) -> Strict:
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise GenerationError(f"{path}: {(exc.strerror or str(exc)).lower()}") from None
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise GenerationError(f"{path}: invalid YAML ({str(exc).splitlines()[0]})") from None
    except RecursionError:
        raise GenerationError(f"{path}: invalid YAML (nested too deeply)") from None
    return parse(data if data is not None else {}, schema, path)


def read_json(path: Path, schema: type[Strict]) -> Strict:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise GenerationError(f"{path}: {(exc.strerror or str(exc)).lower()}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise GenerationError(f"{path}: invalid JSON ({exc})") from None
    except RecursionError:
        raise GenerationError(f"{path}: invalid JSON (nested too deeply)") from None
    return parse(data, schema, path)


def parse(data: Any, schema: type[Strict], path: Path | str) -> Strict:
    """`data` as `schema`, or one line: `<file>: <key>: <problem>`."""
    if not isinstance(data, dict):
        raise GenerationError(f"{path}: expected a mapping of settings")
    try:
        return schema.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"]) or "(top)"
        if error["type"] == "extra_forbidden":
            raise GenerationError(f"{path}: unknown key `{where}`") from None
        if error["type"] == "missing":
            raise GenerationError(f"{path}: `{where}` is missing") from None
        raise GenerationError(f"{path}: `{where}`: {error['msg']} (got {error.get('input')!r:.60})") from None


def dump(record: Strict) -> dict:
    return record.model_dump(mode="json")
