"""Test outcomes per test id, read from the runners' structured reports, never from counting
"N passed" in their text.

Each framework has a command that writes a report to a known path, and a parser from that
report to `{test_id: outcome}` with outcome one of passed, failed, error, skipped.
"""

from __future__ import annotations

import json
import re
import shlex
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import PurePosixPath

PASSED, FAILED, ERROR, SKIPPED = "passed", "failed", "error", "skipped"


@dataclass(frozen=True)
class Runner:
    """How to run a framework's tests so that it writes a structured report."""

    framework: str
    report_name: str

    def command(self, files: list[str], report: str) -> str:
        quoted = " ".join(shlex.quote(f) for f in files)
        r = shlex.quote(report)
        if self.framework == "pytest":
            return f"python -m pytest -p no:cacheprovider -o junit_family=xunit1 -q --junitxml={r} {quoted}"
        if self.framework == "go":
            return f"go test -json ./... > {r}"
        if self.framework == "cargo":
            return f"cargo test --no-fail-fast 2>&1 | tee {r}"
        if self.framework == "jest":
            return f"npx jest --ci --json --outputFile={r} {quoted}"
        if self.framework == "vitest":
            return f"npx vitest run --reporter=junit --outputFile={r} {quoted}"
        raise ValueError(f"no test runner for framework {self.framework!r}")


RUNNERS = {
    "pytest": Runner("pytest", "report.xml"),
    "go": Runner("go", "report.jsonl"),
    "cargo": Runner("cargo", "report.txt"),
    "jest": Runner("jest", "report.json"),
    "vitest": Runner("vitest", "report.xml"),
}


def parse_report(framework: str, data: bytes) -> dict[str, str]:
    """`{test_id: outcome}` from a report; an unreadable report gives {}."""
    text = data.decode("utf-8", "replace")
    if framework in ("pytest", "vitest"):
        return parse_junit(text)
    if framework == "go":
        return parse_go_json(text)
    if framework == "cargo":
        return parse_cargo(text)
    if framework == "jest":
        return parse_jest_json(text)
    raise ValueError(f"no report parser for framework {framework!r}")


def parse_junit(text: str) -> dict[str, str]:
    """JUnit XML (pytest's --junitxml, vitest's junit reporter): `<file or class>::<name>`."""
    try:
        root = ET.fromstring(text)
    except ET.ParseError:
        return {}
    outcomes = {}
    for case in root.iter("testcase"):
        where = case.get("file") or case.get("classname") or ""
        classname = case.get("classname") or ""
        # pytest's classname is dotted module[.Class]; keep a class part after the file name
        module = where.removesuffix(".py").replace("/", ".")
        suffix = classname[len(module) + 1 :] if classname.startswith(module + ".") else ""
        test_id = "::".join(part for part in (where, suffix, case.get("name", "")) if part)
        kinds = {child.tag for child in case}
        if "error" in kinds:
            outcomes[test_id] = ERROR
        elif "failure" in kinds:
            outcomes[test_id] = FAILED
        elif "skipped" in kinds:
            outcomes[test_id] = SKIPPED
        else:
            outcomes[test_id] = PASSED
    return outcomes


def parse_go_json(text: str) -> dict[str, str]:
    """`go test -json` events: `<package>::<Test>`; the last verdict of each test wins."""
    verdicts = {"pass": PASSED, "fail": FAILED, "skip": SKIPPED}
    outcomes = {}
    for line in text.splitlines():
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(event, dict) and event.get("Test") and event.get("Action") in verdicts:
            outcomes[f"{event.get('Package', '')}::{event['Test']}"] = verdicts[event["Action"]]
    return outcomes


CARGO_LINE = re.compile(r"^test (\S+) \.\.\. (ok|FAILED|ignored)", re.M)


def parse_cargo(text: str) -> dict[str, str]:
    """libtest's per-test lines (`test path::name ... ok`), one verdict per test."""
    verdicts = {"ok": PASSED, "FAILED": FAILED, "ignored": SKIPPED}
    return {name: verdicts[word] for name, word in CARGO_LINE.findall(text)}


def parse_jest_json(text: str) -> dict[str, str]:
    """jest --json: `<file>::<full name>`."""
    try:
        report = json.loads(text)
    except json.JSONDecodeError:
        return {}
    verdicts = {"passed": PASSED, "failed": FAILED, "pending": SKIPPED, "skipped": SKIPPED, "todo": SKIPPED}
    outcomes = {}
    for suite in report.get("testResults", []):
        for case in suite.get("assertionResults", []):
            test_id = f"{suite.get('name', '')}::{case.get('fullName') or case.get('title')}"
            outcomes[test_id] = verdicts.get(case.get("status"), FAILED)
    return outcomes


def belongs_to(test_id: str, path: str) -> bool:
    """Whether a test id comes from the test file `path` (as far as the id tells)."""
    where = test_id.split("::", 1)[0]
    if where == path or where.endswith("/" + path):
        return True
    if not path.endswith("_test.go"):
        return False
    directory = str(PurePosixPath(path).parent)
    # a Go id names the package's import path; a root-level file's package cannot be told apart
    return directory == "." or where == directory or where.endswith("/" + directory)
