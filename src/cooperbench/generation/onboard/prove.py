"""Every feature of an onboarded task proven twice, as the benchmark needs it.

1. By the project's own grader (validation/selfcheck.check_feature): the feature, validated against
   the rest of its task, passes every check but the conflict rule (a real feature may conflict
   with none of the others): its tests fail at the base and pass with it, nothing that passed
   breaks, the screen and the guard find nothing.
2. Independently, by the task's runner.sh alone (testrun.plain_run: nothing of ours in its
   processes): its exit code, or where the base already fails, its own failure counts, must say
   the same: failing before, passing after.
The environment is proven first: the base's tests run under the task's runner (baseline.base_run),
or the task is dropped with the step and package that failed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from cooperbench.generation.grading import runcache
from cooperbench.generation.grading.baseline import base_run
from cooperbench.generation.grading.grade import RULE_REASONS
from cooperbench.generation.schemas import ValidationSettings
from cooperbench.generation.tasks.task import Feature, Task
from cooperbench.generation.validation import selfcheck

CONFLICT_REASONS = frozenset({"no_conflict"}) | RULE_REASONS  # what a real feature may fail: it needs no conflict


@dataclass
class FeatureProof:
    feature: int
    valid: bool  # by the project's grader, the conflict rule aside
    reasons: list[str]
    fail_to_pass: list[str]
    plain: dict  # the independent check
    pairs: list[dict] = field(default_factory=list)  # its conflicts, with their classes

    @property
    def proven(self) -> bool:
        return self.valid and self.plain["ok"]

    def to_dict(self) -> dict:
        return {"feature": self.feature, "proven": self.proven, "valid": self.valid, "reasons": self.reasons,
                "fail_to_pass": self.fail_to_pass, "independent": self.plain, "conflicts": self.pairs}


def failures(run: dict) -> int | None:
    summary = run.get("summary") or {}
    return None if not summary else summary.get("failed", 0) + summary.get("errors", 0)


def plain_check(task: Task, git_dir: Path, feature: Feature, settings: ValidationSettings, base: dict) -> dict:
    """The runner alone, before and after the feature, each in a fresh sandbox (or kept)."""
    before = runcache.cached_plain_run(task, git_dir, settings, [("tests.patch", feature.tests_patch)])
    after = runcache.cached_plain_run(task, git_dir, settings, [("tests.patch", feature.tests_patch),
                                                                ("feature.patch", feature.feature_patch)])
    if base.get("exit_code") == 0:
        ok = before["exit_code"] != 0 and after["exit_code"] == 0
        rule = "exit codes: the base passes, before fails, after passes"
    else:
        counts = [failures(r) for r in (base, before, after)]
        ok = None not in counts and counts[1] > counts[2] and counts[2] <= counts[0]
        rule = "failure counts (the base already fails): before has more failures than after, after no more than the base"
    return {"ok": ok, "rule": rule, "base": base, "before": before, "after": after}


def prove_task(task: Task, git_dir: Path, settings: ValidationSettings) -> list[FeatureProof]:
    """Every feature's proof; EnvironmentFailure or HarnessDisagrees when the base cannot be graded."""
    base = base_run(task, git_dir, settings)
    # the part check can change a proof only under require_needed; elsewhere it would be runs for nothing
    checks = settings if settings.require_needed else settings.model_copy(update={"check_parts": False})
    proofs = []
    for feature in task.features:
        verdict = selfcheck.check_feature(task, feature.id, git_dir, checks, aside=CONFLICT_REASONS)
        reasons = [text for key, text in zip(verdict["reason_keys"], verdict["reasons"]) if key not in CONFLICT_REASONS]
        plain = plain_check(task, git_dir, feature, settings, base.plain or {})
        pairs = [p for p in verdict["conflict_result"]["pairs"] if p["has_conflict"]]
        proofs.append(FeatureProof(feature.id, not reasons, reasons,
                                   verdict["checks"]["fail_to_pass"].get("tests", []), plain, pairs))
    return proofs
