"""Where an attempt's files live: one type for the CLI (one folder an attempt) and the DVC
pipeline (one folder per stage kind, so each stage owns its outputs).

CLI:       <output>/<repo>_task/task<N>/<model>/attempt<k>/{agent/, feature.patch, ..., verdict.json}
pipeline:  generated/<kind>/<model slug>/<repo>_task/task<N>/attempt<k>/, a kind per stage (KINDS)
`agent/` holds what the split depends on (diff, description, outcome) and is a function of the
run's inputs for a replayed session; `sessions/` holds the trajectory and usage (timings, cost),
which are not.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

GENERATED = Path("generated")  # the DVC pipeline's outputs
RUNS = Path("runs")  # the CLI's and the API's attempts, outside any DVC output
PARAMS = Path("params.yaml")  # the project's parameters, in its root (where DVC runs the stages)
PARAMS_VARIABLE = "COOPERBENCH_PARAMS"  # another params.yaml for the CLI and the API (their --params)
KINDS = ("agent", "sessions", "split", "verdicts", "resolutions", "judgements", "coop")  # per-stage folders under GENERATED


@dataclass(frozen=True)
class AttemptPaths:
    agent: Path
    session: Path
    split: Path
    verdict: Path
    resolutions: Path | None = None  # the resolver's records of the attempt's hard pairs
    judgements: Path | None = None  # the description judge's record and session
    teams: Path | None = None  # the solver teams' records of the attempt's solvable pairs

    @classmethod
    def folder(cls, root: Path) -> "AttemptPaths":
        """Everything of one attempt under one folder (the CLI's layout)."""
        root = Path(root)
        return cls(root / "agent", root / "agent", root, root, root / "resolutions", root / "judge", root / "coop")

    @classmethod
    def pipeline(cls, model: str, task: str, attempt: int, generated: Path = GENERATED) -> "AttemptPaths":
        tail = Path(model) / task / f"attempt{attempt}"
        return cls(generated / "agent" / tail, generated / "sessions" / tail, generated / "split" / tail,
                   generated / "verdicts" / tail, generated / "resolutions" / tail, generated / "judgements" / tail,
                   generated / "coop" / tail)

    @classmethod
    def of(cls, folder: Path) -> "AttemptPaths":
        """The attempt a folder holds: a pipeline attempt when the folder is one of its stage
        folders (`<generated>/<kind>/<model>/<repo>_task/task<N>/attempt<k>`), else a CLI one."""
        folder = Path(folder)
        parts = folder.parts
        if len(parts) >= 5 and parts[-5] in KINDS and re.fullmatch(r"attempt\d+", parts[-1]):
            return cls.pipeline(parts[-4], f"{parts[-3]}/{parts[-2]}", int(parts[-1][len("attempt"):]), Path(*parts[:-5]))
        return cls.folder(folder)

    @property
    def diff(self) -> Path:
        return self.agent / "diff.patch"

    @property
    def description(self) -> Path:
        return self.agent / "description.md"

    @property
    def outcome(self) -> Path:
        return self.agent / "outcome.json"

    @property
    def trajectory(self) -> Path:
        return self.session / "trajectory.json"

    @property
    def usage(self) -> Path:
        return self.session / "usage.json"

    @property
    def feature_patch(self) -> Path:
        return self.split / "feature.patch"

    @property
    def tests_patch(self) -> Path:
        return self.split / "tests.patch"

    @property
    def feature_md(self) -> Path:
        return self.split / "feature.md"

    @property
    def split_json(self) -> Path:
        return self.split / "split.json"

    @property
    def verdict_json(self) -> Path:
        return self.verdict / "verdict.json"

    def resolution(self, feature: int) -> Path:
        """The resolver's record of the pair (this attempt's candidate, feature<feature>)."""
        assert self.resolutions is not None
        return self.resolutions / f"vs_feature{feature}.json"

    @property
    def judgement(self) -> Path:
        assert self.judgements is not None
        return self.judgements / "judgement.json"

    @property
    def judge_session(self) -> Path:
        assert self.judgements is not None
        return self.judgements / "session.json"

    def team(self, feature: int, solver: str) -> Path:
        """A solver team's record of the pair (this attempt's candidate, feature<feature>)."""
        assert self.teams is not None
        return self.teams / f"vs_feature{feature}.{solver}.json"


def model_slug(model_name: str) -> str:
    """A folder name for a model: `gemini/gemini-3-flash-preview` -> `gemini_gemini-3-flash-preview`."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", model_name).strip("_")
