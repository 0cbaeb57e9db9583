"""Per-test outcomes of a test run, from structured reports, never from counting "N passed".

The task's runner.sh runs unchanged; the sandbox adds, through the environment only
(`environment.grading_env`), what makes each kind of runner leave a per-test record: a pytest plugin
writing JSON lines (PYTEST_ADDOPTS), `go test -json` (GOFLAGS). Runners with no such switch
print per-test lines anyway: cargo's libtest (`test a::b ... ok`) and jest (one line per test
when it runs one file, which is how the dataset's runners call it). One table holds them all; a
run's outcomes are the union of what every entry finds.

Test ids are normalized so that parts that change from run to run (uuids, memory addresses,
temporary paths in parametrized ids) do not make one test look like two.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Callable

PASSED, FAILED, ERROR, SKIPPED = "passed", "failed", "error", "skipped"
SEVERITY = {PASSED: 0, SKIPPED: 1, FAILED: 2, ERROR: 3}


@dataclass
class Outcomes:
    tests: dict[str, str] = field(default_factory=dict)  # normalized test id -> outcome
    collection_errors: dict[str, str] = field(default_factory=dict)  # module or file -> message
    runners: list[str] = field(default_factory=list)  # which runner kinds reported
    tampered: list[str] = field(default_factory=list)  # ids whose report disagrees with the run's output
    tampering: list[dict] = field(default_factory=list)  # what the guard and the reporter's closing check found
    unfinished: int = 0  # pytest processes that reported tests but never reached the closing check

    merged: int = 0  # records whose id normalized onto another test's (uuid-parametrized ids, say)
    raw: dict[str, str] = field(default_factory=dict, repr=False)  # normalized id -> the first raw id

    def add(self, test_id: str, outcome: str) -> None:
        """Two ids that normalize alike are one test: the worse outcome stands."""
        raw, test_id = test_id, normalize_id(test_id)
        if self.raw.setdefault(test_id, raw) != raw:
            self.merged += 1
        if SEVERITY[outcome] >= SEVERITY.get(self.tests.get(test_id, PASSED), 0) or test_id not in self.tests:
            self.tests[test_id] = outcome


@dataclass(frozen=True)
class Runner:
    """One kind of test runner: where its record is (report files by prefix, or the output)."""

    name: str
    parse: Callable[[str, Outcomes], None]
    report_prefix: str | None = None  # report files under REPORTS_DIR; None: read the output


def records(text: str) -> list[dict]:
    """The JSON objects of a JSON-lines text (lines split on "\n" only; others skipped)."""
    found = []
    for line in text.split("\n"):
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict):
            found.append(record)
    return found


def parse_pytest_jsonl(text: str, outcomes: Outcomes) -> None:
    """Lines of the cooperbench_pytest plugin: {id, when, outcome[, message]}."""
    for record in records(text):
        if not isinstance(record.get("id"), str):
            continue
        outcome = record.get("outcome")
        if record.get("when") == "collect":
            outcomes.collection_errors[record["id"] or "(session)"] = str(record.get("message", ""))[:300]
        elif outcome in SEVERITY:
            outcomes.add(record["id"], outcome)


def parse_go_json(text: str, outcomes: Outcomes) -> None:
    """`go test -json` events: `<package>::<Test>`; the last verdict of each test wins."""
    verdicts = {"pass": PASSED, "fail": FAILED, "skip": SKIPPED}
    for line in text.splitlines():
        if not line.startswith("{"):
            continue
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(event, dict) and event.get("Test") and event.get("Action") in verdicts:
            outcomes.tests[normalize_id(f"{event.get('Package', '')}::{event['Test']}")] = verdicts[event["Action"]]


CARGO_LINE = re.compile(r"^test (\S+) \.\.\. (ok|FAILED|ignored)", re.M)


def parse_cargo(text: str, outcomes: Outcomes) -> None:
    """libtest's per-test lines (`test path::name ... ok`)."""
    verdicts = {"ok": PASSED, "FAILED": FAILED, "ignored": SKIPPED}
    for name, word in CARGO_LINE.findall(text):
        outcomes.add(name, verdicts[word])


JEST_FILE = re.compile(r"^(PASS|FAIL) (?:[^\s/.]+ )?(\S+)")  # `PASS [project name] path/to.test.tsx (8 s)`
JEST_TEST = re.compile(r"^(\s+)([✓✕○✎√×]) (.+?)(?: \(\d+(?:\.\d+)? ?m?s\))?$")
JEST_VERDICTS = {"✓": PASSED, "√": PASSED, "✕": FAILED, "×": FAILED, "○": SKIPPED, "✎": SKIPPED}


def parse_jest(text: str, outcomes: Outcomes) -> None:
    """jest's per-test lines: under `PASS|FAIL <file>`, describe blocks and tests by indentation;
    the id is `<file>::<describe> > ... > <test>`. A failed file with no test line failed to run."""
    current, groups = None, []  # groups: [(indent, describe name)]
    failed, with_tests = set(), set()
    for line in text.splitlines():
        started = JEST_FILE.match(line)
        if started:
            current, groups = started.group(2), []
            if started.group(1) == "FAIL":
                failed.add(current)
        elif current is None or not line.strip():
            continue
        elif not line.startswith(" "):
            current = None  # the file's block ended
        elif test := JEST_TEST.match(line):
            names = [name for depth, name in groups if depth < len(test.group(1))]
            outcomes.add(f"{current}::{' > '.join([*names, test.group(3)])}", JEST_VERDICTS[test.group(2)])
            with_tests.add(current)
        elif not line.lstrip().startswith(("●", "at ")):
            indent = len(line) - len(line.lstrip())
            groups = [(depth, name) for depth, name in groups if depth < indent] + [(indent, line.strip())]
    for file in failed - with_tests:
        outcomes.collection_errors[file] = "the test file failed to run"


RUNNERS = (
    Runner("pytest", parse_pytest_jsonl, report_prefix="pytest-"),
    Runner("unittest", parse_pytest_jsonl, report_prefix="unittest-"),  # the same records, by cooperbench_unittest
    Runner("go", parse_go_json),
    Runner("cargo", parse_cargo),
    Runner("jest", parse_jest),
)


ECHO_PREFIX = "@@cooperbench-pytest "


GUARD_PREFIX = "@@cooperbench-guard "


def tampering(reports: dict[str, bytes], output: str, guarded: bool = False) -> tuple[list[dict], int]:
    """What the guard found (guard-<pid>-*.jsonl, one file per process, echoed on the output as
    it went: findings in watched code, and its closing check's findings, each with its file), and
    how many reporting pytest processes never finished: no closing record of the reporter's, or,
    where the guard ran, none of the guard's (os._exit, a crash, a kill, or a part of ours taken
    out). testrun.py keeps the findings that count."""
    found, guard_ends = [], set()
    for name in sorted(n for n in reports if n.startswith("guard-")):
        pid = name.split("-")[1]
        for record in records(reports[name].decode("utf-8", "replace")):
            if record.get("end") is True:
                guard_ends.add(pid)
            else:
                found.append(record)
    found += [r for r in records("\n".join(line[len(GUARD_PREFIX):] for line in output.split("\n")
                                            if line.startswith(GUARD_PREFIX))) if r.get("end") is not True]
    unfinished = 0
    for name in sorted(n for n in reports if n.startswith("pytest-")):
        lines = records(reports[name].decode("utf-8", "replace"))
        if not lines:
            continue
        ended = any(r.get("end") is True for r in lines)
        if not ended or (guarded and name.split("-")[1] not in guard_ends):
            unfinished += 1
    unique = {json.dumps(f, sort_keys=True): f for f in found}
    return [unique[key] for key in sorted(unique)], unfinished


def finding(record: dict) -> str:
    """A finding as a person reads it: `what (file:line)`."""
    what = str(record.get("guard") or record.get("what") or "")[:200]
    where = str(record.get("file") or "code of no file")[-120:]
    line = record.get("line")
    return f"{what} ({where}{f':{line}' if isinstance(line, int) else ''})"


def tampered_ids(reports: dict[str, bytes], output: str) -> list[str]:
    """Test ids whose pytest report disagrees with the copy echoed on the run's stdout while it
    ran: a test process that rewrote the report file after the fact. Judged whether or not the
    output was cut (which the sandbox says, not the text): an id whose echo is missing counts as
    disagreeing, so a flood of output hides no rewrite."""
    from_files, from_stream = Outcomes(), Outcomes()
    for name in sorted(n for n in reports if n.startswith(("pytest-", "unittest-"))):
        parse_pytest_jsonl(reports[name].decode("utf-8", "replace"), from_files)
    echoed = [line[len(ECHO_PREFIX):] for line in output.split("\n") if line.startswith(ECHO_PREFIX)]
    parse_pytest_jsonl("\n".join(echoed), from_stream)
    ids = set(from_files.tests) | set(from_stream.tests)
    return sorted(i for i in ids if from_files.tests.get(i) != from_stream.tests.get(i))


def read_outcomes(reports: dict[str, bytes], output: str, guarded: bool = False) -> Outcomes:
    """Every runner's record of one run: report files (name -> bytes) and the run's output;
    `guarded`: the guard ran in its processes, so each reporting one must have its closing record."""
    outcomes = Outcomes()
    outcomes.tampered = tampered_ids(reports, output)
    outcomes.tampering, outcomes.unfinished = tampering(reports, output, guarded)
    for runner in RUNNERS:
        before = (len(outcomes.tests), len(outcomes.collection_errors))
        if runner.report_prefix:
            for name in sorted(n for n in reports if n.startswith(runner.report_prefix)):
                runner.parse(reports[name].decode("utf-8", "replace"), outcomes)
        else:
            runner.parse(output, outcomes)
        if (len(outcomes.tests), len(outcomes.collection_errors)) != before:
            outcomes.runners.append(runner.name)
    return outcomes


VOLATILE = (
    (re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I), "<uuid>"),
    (re.compile(r"\b0x[0-9a-f]{6,}\b", re.I), "<addr>"),
    (re.compile(r"/tmp/[^\s\[\],)'\"]*"), "<tmp>"),
)


def normalize_id(test_id: str) -> str:
    """The id with its run-dependent parts replaced, outside the file part."""
    where, sep, rest = test_id.partition("::")
    for pattern, replacement in VOLATILE:
        rest = pattern.sub(replacement, rest)
    return where + sep + rest


def flaky(rounds: list[dict[str, str]]) -> dict[str, list[str | None]]:
    """The tests whose outcome is not the same in every round of a run (None: not run in that
    round), with their outcomes in round order."""
    tests = sorted(set().union(*rounds)) if len(rounds) > 1 else []
    return {t: [r.get(t) for r in rounds] for t in tests if len({r.get(t) for r in rounds}) > 1}


def belongs_to(test_id: str, path: str) -> bool:
    """Whether a test id comes from the test file `path` (as far as the id tells)."""
    where = test_id.split("::", 1)[0]
    if where == path or where.endswith("/" + path) or path.endswith("/" + where):
        return True
    if not path.endswith("_test.go"):
        return False
    directory = str(PurePosixPath(path).parent)
    # a Go id names the package's import path; a root-level file's package cannot be told apart
    return directory == "." or where == directory or where.endswith("/" + directory)


# ---------------------------------------------------------------- what a runner says by itself

SUMMARY_WORDS = {"passed": "passed", "failed": "failed", "error": "errors", "errors": "errors", "skipped": "skipped",
                 "xfailed": "xfailed", "xpassed": "xpassed", "deselected": "deselected"}
PYTEST_SUMMARY = re.compile(r"^=*\s*((?:\d+ (?:passed|failed|errors?|skipped|xfailed|xpassed|deselected|warnings?|rerun)"
                            r"(?:, )?)+) in [\d.]+s", re.M)
JEST_SUMMARY = re.compile(r"^Tests:\s+(.*\d+ total)", re.M)
CARGO_SUMMARY = re.compile(r"^test result: \w+\. (\d+) passed; (\d+) failed; (\d+) ignored", re.M)
UNITTEST_SUMMARY = re.compile(r"^Ran (\d+) tests? in [\d.]+s\n\n(OK|FAILED)(?: \(([^)]*)\))?", re.M)
COLOUR = re.compile(r"\x1b\[[0-9;]*m")  # `--color=yes` in a repository's addopts wraps the summary in these
STOPPED = re.compile(r"Interrupted: \d+ errors? during collection|stopping after \d+ failures|!+ (?:KeyboardInterrupt|"
                     r"Interrupted|_pytest\.outcomes\.Exit)")


def runner_summary(output: str) -> dict | None:
    """The counts a run's own runners print at their end (pytest's summary lines, jest's
    `Tests:` line, cargo's `test result:` lines, unittest's `Ran N tests` and its verdict, added
    up over every call), with `stopped` when a
    runner stopped early by itself; None when no runner summary is found."""
    output = COLOUR.sub("", output)
    counts: dict[str, int] = {}
    found = False
    for line in PYTEST_SUMMARY.findall(output):
        found = True
        for number, word in re.findall(r"(\d+) (\w+)", line):
            if word in SUMMARY_WORDS:
                counts[SUMMARY_WORDS[word]] = counts.get(SUMMARY_WORDS[word], 0) + int(number)
    for line in JEST_SUMMARY.findall(output):
        found = True
        for number, word in re.findall(r"(\d+) (passed|failed|skipped|todo)", line):
            word = "skipped" if word == "todo" else word
            counts[word] = counts.get(word, 0) + int(number)
    for passed, failed, ignored in CARGO_SUMMARY.findall(output):
        found = True
        for word, number in (("passed", passed), ("failed", failed), ("skipped", ignored)):
            counts[word] = counts.get(word, 0) + int(number)
    for ran, _verdict, details in UNITTEST_SUMMARY.findall(output):  # `Ran 5 tests ... FAILED (failures=1)`
        found = True
        parts = {key.strip(): int(value) for key, value in re.findall(r"(\w+)=(\d+)", details or "")}
        words = {"failures": "failed", "errors": "errors", "skipped": "skipped", "expected_failures": "xfailed",
                 "unexpected_successes": "xpassed"}
        for key, word in words.items():
            counts[word] = counts.get(word, 0) + parts.get(key, 0)
        others = sum(parts.get(key, 0) for key in words)
        counts["passed"] = counts.get("passed", 0) + int(ran) - others
    if not found:
        return None
    return {**{word: n for word, n in sorted(counts.items()) if n}, "stopped": bool(STOPPED.search(output))}
