"""One test run, as the benchmark makes it: the task's runner.sh in its contract
(`runner.sh <tests.patch> [feature.patch]`, patches under /patches, repository at
/workspace/repo), in a fresh sandbox with the network off, installs served from the task's
environment, and per-test outcomes read from the structured records runners.py knows."""

from __future__ import annotations

import json
import shlex
from dataclasses import asdict, dataclass, field

from cooperbench.generation.core.contract import PATCHES_DIR, REPORTS_DIR, RUNNER_PATH
from cooperbench.generation.grading.outcomes import finding, flaky, read_outcomes, runner_summary
from cooperbench.generation.sandbox.base import Sandbox
from cooperbench.generation.tasks.environment import explain_failure, grading_env, plain_env

TAIL = 3000  # characters of output kept in the run log


@dataclass
class TestRun:
    label: str  # base | before | after | feature (see validate.RUN_PATCHES)
    timeout: float = 0.0  # seconds the run was given
    outcomes: dict[str, str] = field(default_factory=dict)
    collection_errors: dict[str, str] = field(default_factory=dict)
    runners: list[str] = field(default_factory=list)
    exit_code: int | None = None
    timed_out: bool = False
    limit: str | None = None
    problem: str | None = None  # why the run says nothing about the tests (they did not start)
    tampered: list[str] = field(default_factory=list)  # ids whose report was rewritten after the fact
    tampering: list[str] = field(default_factory=list)  # the watched code's reach into the test runner
    unfinished: int = 0  # pytest processes that ended before their closing check
    merged: int = 0  # records whose id normalized onto another's (reports.Outcomes.merged)
    plain: dict | None = None  # a base run's self-check: what runner.sh alone reported (plain_run)
    summary: dict | None = None  # what the run's own runners printed at their end (reports.runner_summary)
    truncated: bool = False  # the output was longer than the sandbox keeps
    rounds: list[dict[str, str]] = field(default_factory=list)  # the reruns' outcomes, each in an order of its own
    duration: float = 0.0
    output_tail: str = ""

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for outcome in self.outcomes.values():
            counts[outcome] = counts.get(outcome, 0) + 1
        return dict(sorted(counts.items()))

    def outcome_rounds(self) -> list[dict[str, str]]:
        return [self.outcomes, *self.rounds]

    def flaky(self) -> dict[str, list[str | None]]:
        return flaky(self.outcome_rounds())

    def fold(self, rerun: "TestRun") -> None:
        """Take in a rerun of the same patches: its outcomes as a round, and anything it shows
        against the run (a limit, a timeout, tampering, tests that did not start)."""
        self.rounds.append(rerun.outcomes)
        self.timed_out = self.timed_out or rerun.timed_out
        self.limit = self.limit or rerun.limit
        if rerun.problem and not self.problem:
            self.problem = f"in rerun {len(self.rounds)}: {rerun.problem}"
        self.tampered = sorted({*self.tampered, *rerun.tampered})
        self.tampering = sorted({*self.tampering, *rerun.tampering})
        self.unfinished += rerun.unfinished
        self.truncated = self.truncated or rerun.truncated

    def to_dict(self) -> dict:
        """What the verdict keeps: a function of the inputs (no timings, no raw output)."""
        data = asdict(self)
        for volatile in ("duration", "output_tail"):
            data.pop(volatile)
        data["counts"] = self.counts()
        return data

    def log(self) -> dict:
        return {"duration": round(self.duration, 3), "output_tail": self.output_tail}

    @classmethod
    def from_dict(cls, data: dict) -> "TestRun":
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


def run_tests(sandbox: Sandbox, patches: list[tuple[str, str]], label: str, timeout: float,
              guard: dict | None = None, order: int = 0) -> TestRun:
    """Run the runner with `patches` ((file name, text), tests patch first) in `sandbox`; `guard`
    (tamper.guard_config) names the source files whose reach into the test runner is watched;
    `order` (a rerun's number, 0 for the first run) shuffles pytest's tests by that seed."""
    for name, text in patches:
        sandbox.write_file(f"{PATCHES_DIR}/{name}", text.encode("utf-8", "surrogateescape"))
    command = f"bash {RUNNER_PATH} " + " ".join(shlex.quote(name) for name, _ in patches)
    env, guarded = grading_env(order), bool(guard and guard.get("watch"))
    if guarded:
        env["COOPERBENCH_GUARD"] = json.dumps({**guard, "reports": REPORTS_DIR})
    result = sandbox.run(command, timeout=timeout, env=env)
    output = result.stdout + result.stderr
    found = read_outcomes(sandbox.read_dir(REPORTS_DIR), output, guarded)
    summary = runner_summary(output)
    run = TestRun(label, timeout, found.tests, found.collection_errors, found.runners, result.exit_code, result.timed_out,
                  result.limit, tampered=found.tampered, tampering=attributed(found.tampering, guard), unfinished=found.unfinished,
                  merged=found.merged, summary=summary,
                  truncated=result.truncated, duration=result.duration,
                  output_tail=output[-TAIL:])
    if not found.tests and not result.timed_out and not result.limit:
        run.problem = "the tests did not start: " + (
            next(iter(found.collection_errors.values()), "") or explain_failure(output, result.exit_code)
        )
    return run


def attributed(findings: list[dict], guard: dict | None) -> list[str]:
    """The findings that are the watched source's doing: the guard's (it reports watched code
    only), and the closing check's whose code is a watched file's (a pytest hook in a file that
    implemented pytest hooks at the base excepted: the repository is a pytest plugin), code made
    at run time, or code of no Python file. What the repository's own files do (its conftest's
    hooks) is no finding."""
    watch = tuple("/" + p for p in (guard or {}).get("watch", ()))
    allowed = tuple("/" + p for p in (guard or {}).get("hooks_allowed", ()))
    if not watch:
        return []
    kept = []
    for record in findings:
        filename = record.get("file")
        if "guard" in record:
            kept.append(finding(record))
        elif not isinstance(filename, str) or not filename or filename.startswith("<"):
            kept.append(finding(record))
        elif filename.endswith(watch) and not (record.get("hook") and filename.endswith(allowed)):
            kept.append(finding(record))
    return sorted(set(kept))


def plain_run(sandbox: Sandbox, patches: list[tuple[str, str]], timeout: float) -> dict:
    """The task's runner.sh exactly as written, given `patches` ((name, text), tests patch
    first), with nothing of ours in its processes (installs served, no reporter, no guard, no
    options): its exit code and the counts its own runners print at the end."""
    for name, text in patches:
        sandbox.write_file(f"{PATCHES_DIR}/{name}", text.encode("utf-8", "surrogateescape"))
    names = " ".join(shlex.quote(name) for name, _ in patches)
    result = sandbox.run(f"bash {RUNNER_PATH} {names}", timeout=timeout, env=plain_env())
    return {"summary": runner_summary(result.stdout + result.stderr), "exit_code": result.exit_code,
            "timed_out": result.timed_out}
