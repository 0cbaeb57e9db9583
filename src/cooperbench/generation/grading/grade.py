"""The verdict from the runs' records, and nothing else: no sandbox, no git, no clock.

`validation/candidate.py` runs things (patches applied, four test runs, merges) and records what happened;
this module turns those records into fail-to-pass, pass-to-pass and the reasons a candidate is
invalid, the way SWE-bench keeps grading apart from running. A verdict keeps the records it was
graded from (its `runs` and the tests patch's `scope`), so `regrade` makes it again from itself.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Callable

from cooperbench.generation.grading.outcomes import PASSED, SKIPPED, belongs_to, flaky
from cooperbench.generation.grading.testrun import TestRun
from cooperbench.generation.patches import diffs

if TYPE_CHECKING:
    from cooperbench.generation.tasks.task import Task

RULE_REASONS = frozenset({"no_hard_conflict", "no_solved_conflict"})  # apply_rule's keys
RUN_REASONS = frozenset({"resource_limit", "timeout", "report_tampered", "tampers_with_tests", "unfinished",
                         "tests_did_not_run", "collection_error",
                         "no_fail_to_pass", "fails_with_feature", "flaky_tests", "breaks_tests",
                         "tests_interfere"})  # judge_runs' keys


class Reasons:
    """Why a candidate is invalid: a short stable key (for counting) and a sentence (for people)."""

    def __init__(self) -> None:
        self.items: list[tuple[str, str]] = []

    def add(self, key: str, sentence: str) -> None:
        self.items.append((key, sentence))

    def __bool__(self) -> bool:
        return bool(self.items)

    def only(self, keys: frozenset[str]) -> bool:
        """Whether every reason so far is one of `keys` (none at all included)."""
        return all(key in keys for key, _ in self.items)


def touched_tests(tests_patch: str, base_file: Callable[[str], str | None] = lambda path: None) -> dict[str, set[str]]:
    """Per test file that tests.patch keeps, the definitions it adds or changes (`base_file`
    gives a file's text at the base commit, to place changes deep inside a definition)."""
    scope = {}
    for f in diffs.parse_diff(tests_patch, "tests.patch"):
        if f.status != "deleted":
            base = base_file(f.path) if f.status == "modified" else None
            scope[f.path] = diffs.touched_definitions(f, diffs.lines(base) if base else None)
    return scope


def from_tests_patch(test_id: str, scope: dict[str, set[str]]) -> bool:
    """Whether a test id is one tests.patch adds or changes: its file is in the patch and, when
    the patch names definitions, the id names one of them (function, class, describe block)."""
    segments = {re.sub(r"\[.*\]$", "", part).strip() for part in re.split(r"::| > ", test_id.partition("::")[2])}
    return any(belongs_to(test_id, path) and (not names or segments & names) for path, names in scope.items())


Rounds = list[dict[str, str]]  # a run's outcome maps: the first run's, then each rerun's


def grade(base: Rounds, before: Rounds, after: Rounds, feature: Rounds, scope: dict[str, set[str]]) -> tuple[dict, dict]:
    """SWE-bench style, from outcome maps alone (base, base+tests, base+feature+tests, and
    base+feature with the base's own tests), each run's first round and then its reruns'.

    The tests of tests.patch ("ours") are those whose definitions it touches, and those whose
    outcome it alone changes (base vs base+tests: a test parametrized by data the patch edits,
    say), except tests that passed on the base and did not run at all with the patch alone: the
    patch stopped their module from loading without the feature (a new import), which makes them
    no tests of its own.
    FAIL_TO_PASS: tests of ours passing with the feature that did not pass without it; one whose
    outcome differs across the rounds of either run is `flaky`, which fails the check.
    PASS_TO_PASS: every test passing on the bare base in every round (the base's flaky tests are
    left out, named in `flaky_on_base`), judged in each round of the run without the candidate's
    tests (`feature`), and, for those tests.patch leaves alone, of the run with them (`after`):
    the feature breaks none, and the candidate's tests break none, in any round. A test that
    fails with the feature alone yet passes beside the candidate's untouching tests is
    `contradicted`: evidence of test code that reaches other tests' outcomes."""
    changed = {t for t in set(base[0]) | set(before[0]) if base[0].get(t) != before[0].get(t)
               and not (base[0].get(t) == PASSED and t not in before[0])}
    ours = sorted(t for t in set(before[0]) | set(after[0]) if from_tests_patch(t, scope) or t in changed)
    f2p = [t for t in ours if after[0].get(t) == PASSED and before[0].get(t) != PASSED]
    unsteady = {"before": flaky(before), "after": flaky(after)}
    flaky_f2p = {t: {label: [r.get(t) for r in rounds] for label, rounds in (("before", before), ("after", after))}
                 for t in f2p if t in unsteady["before"] or t in unsteady["after"]}
    still_failing = [t for t in ours if after[0].get(t) not in (PASSED, SKIPPED, None)]
    mine = set(ours)
    on_base = flaky(base)
    p2p = sorted(t for t, outcome in base[0].items() if outcome == PASSED and t not in on_base)
    broken = [t for t in p2p if any(r.get(t) != PASSED for r in feature)
              or (t not in mine and any(r.get(t) not in (PASSED, SKIPPED, None) for r in after))]
    contradicted = [t for t in broken if t not in mine and feature[0].get(t) != PASSED and after[0].get(t) == PASSED]
    return (
        {"ok": bool(f2p) and not still_failing and not flaky_f2p, "tests": f2p, "still_failing": still_failing,
         "flaky": flaky_f2p, "rounds": len(after)},
        {"ok": not broken, "tests": p2p, "broken": broken, "contradicted": contradicted, "flaky_on_base": on_base},
    )


def judge_runs(base: TestRun, before: TestRun, after: TestRun, feature: TestRun, scope: dict[str, set[str]],
               reasons: Reasons) -> tuple[dict, dict]:
    empty = ({"ok": False, "tests": [], "still_failing": [], "flaky": {}, "rounds": 0},
             {"ok": False, "tests": [], "broken": [], "contradicted": [], "flaky_on_base": {}})
    runs = (before, after, feature)
    for run in runs:
        if run.limit:
            reasons.add("resource_limit", f"the {run.label} test run hit the sandbox's {run.limit}")
        elif run.timed_out:
            reasons.add("timeout", f"timeout: the {run.label} test run passed the {run.timeout:g} s limit")
    if any(r.limit or r.timed_out for r in runs):
        return empty
    forged = [i for run in runs for i in run.tampered]
    if forged:
        cut = any(run.truncated for run in runs if run.tampered)
        reasons.add("report_tampered", f"the test report disagrees with what the run printed as it went "
                    f"(rewritten by the tests?"
                    f"{'; the run printed more than the sandbox keeps, so its report cannot be checked' if cut else ''}): "
                    f"{', '.join(forged[:3])}")
        return empty
    told = [f"{run.label} run: pytest says {found[0]}, the records {found[1]}"
            for run in (after, feature) if (found := summary_disagreement(run, run.summary))]
    if told:
        reasons.add("report_tampered", "the reporter's records disagree with what pytest itself printed (records "
                    f"rewritten from inside the test process?): {'; '.join(told)}")
        return empty
    found = sorted({f for run in (after, feature) for f in run.tampering})
    if found:
        reasons.add("tampers_with_tests", "the feature's code reaches into the test runner while the tests run: "
                    + "; ".join(found[:3]) + (f" and {len(found) - 3} more" if len(found) > 3 else ""))
        return empty
    ended = [run.label for run in (after, feature) if run.unfinished and not base.unfinished]
    if ended:
        reasons.add("unfinished", f"the {' and '.join(ended)} test run ended before pytest finished (os._exit, a "
                    "crash, a kill, or the reporter taken out): its closing check did not run")
        return empty
    for run in (after, feature):
        if run.problem:
            reasons.add("tests_did_not_run", f"with the feature ({run.label} run) the tests did not run: {run.problem}")
    if after.problem or feature.problem:
        return empty
    fail_to_pass, pass_to_pass = grade(*(run.outcome_rounds() for run in (base, before, after, feature)), scope)
    ours_broken = sorted(m for m in after.collection_errors if any(belongs_to(m + "::", p) for p in scope))
    if ours_broken:
        first = ours_broken[0]
        reasons.add("collection_error", f"tests of tests.patch do not load with the feature: {first}: {after.collection_errors[first]}")
    if not fail_to_pass["tests"] and not ours_broken:
        reasons.add("no_fail_to_pass", "no fail-to-pass test: no test of tests.patch fails without the feature and passes with it")
    if fail_to_pass["still_failing"]:
        reasons.add("fails_with_feature", f"tests of tests.patch fail with the feature: {', '.join(fail_to_pass['still_failing'][:5])}")
    if fail_to_pass["flaky"]:
        shown = [f"{t} (without the feature: {', '.join(map(str, o['before']))}; with it: {', '.join(map(str, o['after']))})"
                 for t, o in list(fail_to_pass["flaky"].items())[:3]]
        reasons.add("flaky_tests", f"fail-to-pass tests are flaky over {fail_to_pass['rounds']} runs in shuffled "
                    f"orders: {'; '.join(shown)}")
    broken = pass_to_pass["broken"]
    if broken:
        rewritten = [t for t in broken if from_tests_patch(t, scope)]
        reasons.add("breaks_tests", f"breaks tests that passed before (judged on the repository's own tests as at "
                    f"the base): {', '.join(broken[:5])}" + (f" and {len(broken) - 5} more" if len(broken) > 5 else "")
                    + (f" (tests.patch rewrites {len(rewritten)} of them: the feature changes what existing tests "
                       "expect)" if rewritten else ""))
    if pass_to_pass["contradicted"]:
        reasons.add("tests_interfere", "tests that fail with the feature pass beside the candidate's tests, which do "
                    f"not touch them: {', '.join(pass_to_pass['contradicted'][:3])}")
    return fail_to_pass, pass_to_pass


def summary_disagreement(run: TestRun, summary: dict | None, timed_out: bool = False) -> tuple[str, str] | None:
    """Where a run's per-test records and a runner summary of the same tests (its own, or the
    runner's alone in the self-check) disagree on what passed: (the summary's figures, the
    records' figures); None when they agree
    or there is nothing to compare (no summary printed, the runner stopped itself early, a
    timeout). Tests that pass and then fail their teardown count once in the records and twice in
    pytest's summary, and uuid-parametrized ids are one test to the records: the passed counts may
    differ by that much and no more."""
    if not summary or summary.get("stopped") or timed_out:
        return None
    expected = summary.get("passed", 0) + summary.get("xpassed", 0)
    got = run.counts().get("passed", 0)
    if got <= expected and expected - got <= summary.get("errors", 0) + run.merged:
        return None
    figures = ", ".join(f"{n} {word}" for word, n in summary.items() if word != "stopped" and n) or "nothing"
    records = ", ".join(f"{n} {word}" for word, n in run.counts().items()) or "nothing"
    return figures, records


def harness_disagreement(run: TestRun) -> str | None:
    """Where a base run and its self-check (the task's runner alone, `run.plain`) disagree."""
    plain = run.plain or {}
    found = summary_disagreement(run, plain.get("summary"), plain.get("timed_out", False))
    if found is None:
        return None
    return (f"harness_disagrees: on the bare base commit the task's runner.sh alone reports {found[0]}; through "
            f"the harness {found[1]}" + (f" ({run.problem})" if run.problem else ""))


def apply_rule(verdict: dict, require: str) -> dict:
    """`verdict` under `validation.require`: `conflict` (the seed's rule: a conflict with some
    feature), `hard` (and one conflict that git's union merge does not already resolve), or
    `solvable` (and one hard conflict the resolver solved). Pure: classes and resolutions are in
    the verdict's pairs, so a change of rule regrades without running anything."""
    kept = [(k, s) for k, s in zip(verdict["reason_keys"], verdict["reasons"]) if k not in RULE_REASONS]
    classified = [p for p in verdict["conflict_result"]["pairs"] if p.get("class")]
    hard = [p for p in classified if p["class"] == "hard"]
    if require != "conflict" and classified and not hard:
        names = ", ".join(f"feature{p['feature']}" for p in classified)
        kept.append(("no_hard_conflict", f"every conflict is trivial: git's union merge of the two whole features "
                                         f"passes both features' tests ({names})"))
    elif require == "solvable" and hard and not any(p.get("resolution", {}).get("status") == "solvable" for p in hard):
        tried = [p for p in hard if p.get("resolution")]
        kept.append(("no_solved_conflict", f"no hard conflict was solved by the resolver ({len(tried)} of {len(hard)} "
                                           "tried): no pair of this feature is known to be solvable"))
    return {**verdict, "require": require, "valid": not kept, "reasons": [s for _, s in kept],
            "reason_keys": [k for k, _ in kept]}


def apply_judgement(verdict: dict, judgement: dict | None) -> dict:
    """`verdict` under `judge.require_ok`: a valid feature whose description the judge did not
    label `ok` is not valid (`judged_<label>`, or `not_judged` with no judgement). Pure."""
    if not verdict["valid"] or (judgement and judgement["label"] == "ok"):
        return verdict
    if judgement:
        key = f"judged_{judgement['label']}"
        sentence = f"the judge ({judgement['model']}) labels the description {judgement['label']}: {judgement['reasons'][:200]}"
    else:
        key, sentence = "not_judged", "the description was not judged, and judge.require_ok asks it be judged ok"
    return {**verdict, "valid": False, "reasons": [*verdict["reasons"], sentence], "reason_keys": [*verdict["reason_keys"], key]}


def regrade(verdict: dict) -> dict:
    """`verdict` graded again from its own records (runs and scope): the checks and reasons the
    runs decide are made anew, every other reason is kept. A verdict with no runs is unchanged."""
    if not verdict["runs"]:
        return verdict
    runs = {label: TestRun.from_dict(record) for label, record in verdict["runs"].items()}
    scope = {path: set(names) for path, names in verdict["scope"].items()}
    reasons = Reasons()
    for key, sentence in zip(verdict["reason_keys"], verdict["reasons"]):
        if key not in RUN_REASONS:
            reasons.add(key, sentence)
    fail_to_pass, pass_to_pass = judge_runs(runs["base"], runs["before"], runs["after"], runs["feature"], scope, reasons)
    checks = {**verdict["checks"], "fail_to_pass": fail_to_pass, "pass_to_pass": pass_to_pass}
    return {**verdict, "valid": not reasons, "reasons": [s for _, s in reasons.items],
            "reason_keys": [k for k, _ in reasons.items], "checks": checks}


def verdict_skeleton(task: Task, reasons: Reasons, backend: str) -> dict:
    """Every verdict has these keys, so readers (the report) need no special cases."""
    return {
        "valid": not reasons,
        "reasons": [sentence for _, sentence in reasons.items],
        "reason_keys": [key for key, _ in reasons.items],
        "task": task.name,
        "base_commit": task.base_commit,
        "backend": backend,
        "checks": {},
        "conflict_result": {"conflicts": [], "pairs": [], "copy_of": None},
        "runs": {},
    }


def describe(verdict: dict) -> str:
    """A few lines a person can read in a terminal."""
    checks = verdict["checks"]
    lines = [f"{'VALID' if verdict['valid'] else 'INVALID'}  {verdict['task']}  ({verdict['backend']}; "
             f"require: {verdict.get('require', 'conflict')})"]
    if checks.get("fail_to_pass"):
        lines.append(f"  fail-to-pass: {len(checks['fail_to_pass']['tests'])} test(s); pass-to-pass: "
                     f"{len(checks['pass_to_pass']['tests'])} kept, {len(checks['pass_to_pass']['broken'])} broken")
    classes = {p["feature"]: p for p in verdict["conflict_result"]["pairs"]}

    def named(i: int) -> str:
        pair = classes.get(i, {})
        resolution = pair.get("resolution", {}).get("status")
        kind = "/".join(k for k in (pair.get("class"), resolution and f"resolver: {resolution}") if k)
        return f"feature{i}" + (f" ({kind})" if kind else "")

    conflicts_with = ", ".join(named(i) for i in verdict["conflict_result"]["conflicts"]) or "none"
    lines.append(f"  conflicts with: {conflicts_with}")
    lines += [f"  - {reason}" for reason in verdict["reasons"]]
    return "\n".join(lines) + "\n"


def not_a_candidate(task: Task, problems: list[tuple[str, str]], backend: str) -> dict:
    """The verdict of an attempt whose diff is no candidate (no source, no tests, no description)."""
    reasons = Reasons()
    for key, sentence in problems:
        reasons.add(key, sentence)
    return verdict_skeleton(task, reasons, backend)


