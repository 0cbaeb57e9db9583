"""The agent and the candidate as attackers, on both backends: every case asserts its outcome.

Agent cases are replayed sessions whose commands attack (the real agent loop runs them in a real
sandbox); candidate cases are patches whose tests attack the grading. Counted in docs/threat-model.md:
escapes, forgeries, leaks, leftovers and tracebacks must all be 0.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import DEMO, ROOT, assert_one_line_error, git, run_cli

from cooperbench.generation import load_task
from cooperbench.generation.api import generate_feature
from cooperbench.generation.patches import diffs
from cooperbench.generation.patches.gitutil import run_git
from cooperbench.generation.patches.splitter import split_diff
from cooperbench.generation.sandbox.backends import open_sandbox
from cooperbench.generation.sandbox.worktree import work_tree_diff
from cooperbench.generation.schemas import ValidationSettings
from cooperbench.generation.tasks.task import resolve_repo
from cooperbench.generation.validation.candidate import validate_candidate

SUBMIT = "echo COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT && git add -A && git diff --cached"
KEY = "sk-hostile-0123456789abcdefghij"
CANDIDATES = ROOT / "tests" / "data" / "candidates"


@pytest.fixture(params=["local", "docker"])
def backend(request):
    if request.param == "docker":
        request.getfixturevalue("daemon")  # skipped without one (failed under COOPERBENCH_REQUIRE_DOCKER=1)
    return request.param


def session(task_dir: Path, name: str, commands: list[str]) -> str:
    messages = [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}]
    for i, command in enumerate(commands):
        messages.append({"role": "assistant", "content": f"turn {i}", "tool_calls": [
            {"id": f"c{i}", "type": "function", "function": {"name": "bash", "arguments": json.dumps({"command": command})}}]})
    (task_dir / "replays" / f"{name}.traj.json").write_text(
        json.dumps({"trajectory_format": "mini-swe-agent-1.1", "messages": messages}))
    return f"replay/{name}"


def attack(task_dir: Path, backend: str, tmp_path: Path, commands: list[str], **settings):
    model = session(task_dir, "attack", commands + [SUBMIT])
    return generate_feature(task_dir, model, backend, output=tmp_path / "out", command_timeout=30, **settings)


def written(result) -> str:
    return "".join(p.read_text(errors="replace") for p in result.attempt_dir.rglob("*") if p.is_file())


@pytest.mark.slow
def test_writes_outside_the_repository_stay_inside(demo_copy, backend, tmp_path):
    marker = tmp_path / "pwned"
    result = attack(demo_copy, backend, tmp_path, [
        f"echo x > {marker}; echo x > {ROOT}/pwned; echo x > /etc/pwned; echo x > /usr/pwned; echo x > ../pwned; true"])
    assert not marker.exists() and not (ROOT / "pwned").exists() and not Path("/etc/pwned").exists()
    assert result.usage["exit_status"] == "Submitted"


def test_host_secrets_files_are_not_readable(demo_copy, backend, tmp_path):
    result = attack(demo_copy, backend, tmp_path, ["cat /etc/shadow /root/.ssh/id_rsa /root/.cargo/credentials.toml "
                                                   "> miniconf/leak.txt 2>&1; true"])
    shadow = Path("/etc/shadow").read_text() if Path("/etc/shadow").exists() else ""
    root_line = next((line for line in shadow.splitlines() if line.startswith("root:")), None)
    assert root_line is None or root_line not in written(result)


@pytest.mark.slow
def test_the_host_repository_cannot_be_rewritten(demo_copy, backend, tmp_path, isolated_cache):
    task = load_task(demo_copy)
    git_dir = resolve_repo(task)
    before = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in git_dir.rglob("*") if p.is_file()}
    attack(demo_copy, backend, tmp_path, [
        "find / -path /proc -prune -o -path '*/objects/*' -type f -print 2>/dev/null | "
        "while read f; do chmod u+w \"$f\" 2>/dev/null; echo junk > \"$f\" 2>/dev/null; done; true"])
    after = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in git_dir.rglob("*") if p.is_file()}
    assert before == after
    assert run_git(["fsck", "--strict"], git_dir, check=False).returncode == 0


@pytest.mark.slow
def test_keys_do_not_reach_the_shell_and_are_redacted_everywhere(demo_copy, backend, tmp_path, monkeypatch):
    monkeypatch.setenv("DEEPSEEK_KEY", KEY)
    monkeypatch.setenv("MY_SERVICE_PASSWD", KEY + "2")
    result = attack(demo_copy, backend, tmp_path, [
        "env > miniconf/env.txt; cat /proc/1/environ >> miniconf/env.txt 2>/dev/null; true",
        f"echo 'API = \"{KEY}\"' >> miniconf/config.py"])
    assert "DEEPSEEK_KEY" not in written(result) and "MY_SERVICE_PASSWD" not in written(result)
    assert KEY not in written(result) and "[REDACTED]" in result.feature_patch


def test_no_network_for_the_agent(demo_copy, backend, tmp_path):
    result = attack(demo_copy, backend, tmp_path, [
        "python -c \"import urllib.request; urllib.request.urlopen('https://pypi.org', timeout=5)\" "
        "> miniconf/net.txt 2>&1; echo $? >> miniconf/net.txt"])
    diff = (result.attempt_dir / "agent" / "diff.patch").read_text()
    assert "+0\n" not in diff and ("URLError" in diff or "unreachable" in diff.lower() or "resolution" in diff)


@pytest.mark.slow
def test_background_processes_die_with_the_sandbox(demo_copy, backend, tmp_path):
    marker = f"sleep 98765.{os.getpid()}"  # this test's own processes, whatever else runs on the machine
    attack(demo_copy, backend, tmp_path, [f"({marker} &) ; nohup {marker} >/dev/null 2>&1 & disown; true"])
    assert marker not in subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout


@pytest.mark.slow
def test_a_fork_bomb_and_a_memory_hog_are_bounded(demo_copy, backend, tmp_path):
    result = attack(demo_copy, backend, tmp_path, [
        "bomb() { bomb | bomb & }; bomb; sleep 5; true",
        "python -c \"x = bytearray(10 * 1024**3)\"; true"])
    assert result.usage["exit_status"] == "Submitted"  # the session went on; the host did too


@pytest.mark.slow
def test_fifo_sparse_and_flood_outputs_do_not_hang_or_exhaust_the_host(demo_copy, backend, tmp_path):
    result = attack(demo_copy, backend, tmp_path, [
        "mkfifo .feature_description.md; truncate -s 3G /tmp/sparse; head -c 300000000 /dev/zero | tr '\\0' y; true"])
    assert result.feature_md == "" and "no_description" in result.verdict["reason_keys"]


def test_deleting_git_is_a_result_not_a_crash(demo_copy, backend, tmp_path):
    result = attack(demo_copy, backend, tmp_path, ["echo x >> README.md && rm -rf .git"])
    assert result.verdict["reason_keys"] == ["no_diff"]


def candidate(name: str) -> tuple[str, str]:
    return (CANDIDATES / name / "feature.patch").read_text(), (CANDIDATES / name / "tests.patch").read_text()


def demo_patch(tmp_path: Path, changes: dict[str, str | None]) -> str:
    """A real `git diff` of the demo repository with `changes` (path -> new text, None deletes)."""
    work = tmp_path / "forge-repo"
    shutil.copytree(DEMO / "repo", work)
    git(work, "init", "-q")
    git(work, "add", "-A")
    git(work, "commit", "-qm", "base")
    for path, text in changes.items():
        if text is None:
            (work / path).unlink()
        else:
            (work / path).parent.mkdir(parents=True, exist_ok=True)
            (work / path).write_text(text)
    git(work, "add", "-A")
    git(work, "add", "-f", "--", *[path for path, text in changes.items() if text is not None])  # ignored ones too
    return git(work, "diff", "--cached", "--binary", "HEAD")


def appended(path: str, code: str) -> tuple[str, str]:
    """`path` of the demo repository with `code` appended."""
    return path, (DEMO / "repo" / path).read_text() + "\n\n" + code


# The setup of every forgery: the valid candidate's feature plus a change that breaks 4 existing
# tests (tests/test_parser.py: `key: value` lines stop parsing). With honest tests it is INVALID.
BREAKS_FOUR = ("tests/test_parser.py::test_keys_before_any_section_are_defaults", "tests/test_parser.py::test_load_reads_a_file",
               "tests/test_parser.py::test_sections_in_order", "tests/test_parser.py::test_values_are_stripped_strings")

GC_HOOK = """import gc

import _pytest.config
import pytest


class _Forger:
    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_logreport(self, report):
        report.outcome, report.longrepr = "passed", None


for _obj in gc.get_objects():
    if isinstance(_obj, _pytest.config.Config):
        _obj.pluginmanager.register(_Forger(), "forger")
        break
"""
REBIND_WRITER = """import sys

for _module in list(sys.modules.values()):
    if hasattr(_module, "_write") and hasattr(_module, "ECHO_PREFIX"):
        _real = _module._write

        def _forged(record, _real=_real):
            _real(dict(record, outcome="passed") if record.get("outcome") in ("failed", "error") else record)

        _module._write = _forged
"""
AT_EXIT = """import atexit, glob, json, os


def _forge():
    for path in glob.glob(os.environ.get("COOPERBENCH_REPORTS", "/nowhere") + "/*.jsonl"):
        records = [json.loads(line) for line in open(path) if line.strip()]
        with open(path, "w") as out:
            for record in records:
                out.write(json.dumps(dict(record, outcome="passed")) + "\\n")
    print("\\n[... 123 bytes cut ...]\\n")


atexit.register(_forge)
"""
BOTH_CHANNELS_THEN_EXIT = """import json, os, sys

_plugin = next(m for m in list(sys.modules.values()) if hasattr(m, "_write") and hasattr(m, "ECHO_PREFIX"))
_real = _plugin._write
_plugin._write = lambda record: None if record.get("outcome") in ("failed", "error") else _real(record)


def test_zzz_last():
    for test_id in %r:
        _real({"id": test_id, "when": "call", "outcome": "passed"})
    os._exit(0)
""" % (BREAKS_FOUR,)
OBFUSCATED_PLUGINS = 'globals()["pytest_" + "plugins"] = ["tests.forger"]\n'
FORGER_PLUGIN = """import pytest


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_logreport(report):
    report.outcome, report.longrepr = "passed", None
"""
FAKE_PYTEST = """import json, os, sys
for name in %r:
    print("@@cooperbench-pytest " + json.dumps({"id": name, "when": "call", "outcome": "passed"}))
sys.exit(0)
""" % (BREAKS_FOUR,)
# Source-side forgeries: code of feature.patch (imported by the tests it must not break), with the
# test runner's names built at run time so the static screen cannot see them; the guard must.
RUNNER = 'import sys as _s\n_pt = __import__("_py" + "test.config").config\n_gc = __import__("g" + "c")\n'
SOURCE_GC_HOOK = RUNNER + """
class _Forger:
    pass


def _passed(self, report):
    report.outcome, report.longrepr = "passed", None


setattr(_Forger, "pytest_" + "runtest_logreport", _passed)
for _obj in getattr(_gc, "get_" + "objects")():
    if isinstance(_obj, _pt.Config):
        _obj.pluginmanager.register(_Forger(), "forger")
        break
"""
SOURCE_PATCHES_REPORTS = RUNNER + """
_reports = __import__("_py" + "test.reports").reports
_orig = _reports.TestReport.from_item_and_call


def _passed(cls, item, call):
    report = _orig.__func__(cls, item, call)
    report.outcome, report.longrepr = "passed", None
    return report


_reports.TestReport.from_item_and_call = classmethod(_passed)
"""
SOURCE_PATCHES_RUNTEST = RUNNER + """
_python = __import__("_py" + "test.python").python
_python.Function.runtest = lambda self: None
"""
SOURCE_WALKS_FRAMES = """import sys as _s


def _arm():
    frame = _s._getframe()
    while frame is not None:
        session = frame.f_locals.get("session")
        if session is not None and getattr(session, "items", None):
            for item in session.items:
                item.runtest = lambda: None
            return
        frame = frame.f_back


_real_loads = loads


def loads(text):
    _arm()
    return _real_loads(text)
"""
SOURCE_TRACES = """import sys as _s


def _skip_asserts(frame, event, arg):
    if event == "call" and frame.f_code.co_filename.endswith("test_parser.py"):
        return _skip_asserts
    if event == "line" and frame.f_code.co_filename.endswith("test_parser.py"):
        import linecache
        if linecache.getline(frame.f_code.co_filename, frame.f_lineno).strip().startswith("assert"):
            try:
                frame.f_lineno = frame.f_lineno + 1
            except ValueError:
                pass
    return None


getattr(_s, "set" + "trace")(_skip_asserts)
"""
SOURCE_REBINDS_REPORTER = """import sys as _s

for _module in list(_s.modules.values()):
    if hasattr(_module, "pytest_" + "runtest_logreport") and hasattr(_module, "ECHO_PREFIX"):
        setattr(_module, "pytest_" + "runtest_logreport", lambda report: None)
"""
SOURCE_FORGES_ECHO = """import json as _json, os as _os

for _fd in range(3, 64):
    for _name in %r:
        try:
            _os.write(_fd, ("\\n@@cooper" + "bench-pytest " + _json.dumps({"id": _name, "when": "call", "outcome": "passed"}) + "\\n").encode())
        except OSError:
            break
""" % (("tests/test_parser.py::test_keys_before_any_section_are_defaults", "tests/test_parser.py::test_load_reads_a_file",
        "tests/test_parser.py::test_sections_in_order", "tests/test_parser.py::test_values_are_stripped_strings"),)
PARSER_TESTS = (DEMO / "repo" / "tests" / "test_parser.py").read_text()
WEAKENED = PARSER_TESTS.replace("def test_sections_in_order():\n    assert", "def test_sections_in_order():\n    return\n    assert")
for name in ("test_values_are_stripped_strings", "test_keys_before_any_section_are_defaults", "test_load_reads_a_file"):
    WEAKENED = WEAKENED.replace(f"def {name}(", f"def {name}(*_):\n    return\n\n\ndef _was_{name}(", 1)
DELETED = "\n\n".join(block for block in PARSER_TESTS.split("\n\n\n")
                      if not any(f"def {name.split('::')[1]}(" in block for name in BREAKS_FOUR)) + "\n"
PYPROJECT = (DEMO / "repo" / "pyproject.toml").read_text()

# name -> (files the candidate adds or changes, the reason keys any one of which is a right answer)
FORGERIES: dict[str, tuple[dict[str, str | None], set[str]]] = {
    "conftest plugin": ({"tests/conftest.py": FORGER_PLUGIN}, {"changes_harness"}),
    "pytest.ini": ({"pytest.ini": "[pytest]\naddopts = -p no:cooperbench_pytest\n"}, {"changes_harness"}),
    "reporter shadowed at the root": ({"cooperbench_pytest.py": FORGER_PLUGIN}, {"changes_harness"}),
    "pytest shadowed at the root": ({"pytest.py": FAKE_PYTEST}, {"changes_harness"}),
    "pytest_plugins in a test module": (dict([appended("tests/test_writer.py", 'pytest_plugins = ["tests.forger"]')],
                                             **{"tests/forger.py": FORGER_PLUGIN}), {"changes_harness"}),
    "pytest_plugins hidden from the syntax tree": (dict([appended("tests/test_writer.py", OBFUSCATED_PLUGINS)],
                                                        **{"tests/forger.py": FORGER_PLUGIN}), {"breaks_tests"}),
    "logreport hook on the live Config (gc)": (dict([appended("tests/test_writer.py", GC_HOOK)]), {"breaks_tests"}),
    "the reporter's writer rebound": (dict([appended("tests/test_writer.py", REBIND_WRITER)]), {"breaks_tests"}),
    "report rewritten at exit, cut marker printed": (dict([appended("tests/test_writer.py", AT_EXIT)]),
                                                     {"report_tampered", "breaks_tests"}),
    "forged report and echo, then os._exit(0)": (dict([appended("tests/test_writer.py", BOTH_CHANNELS_THEN_EXIT)]),
                                                 {"breaks_tests", "report_tampered"}),
    "octal-quoted conftest path": ({"tests/conf\\164est.py": None}, {"changes_harness"}),  # made below
    "escaped pytest key in pyproject.toml": ({"pyproject.toml": PYPROJECT + '\n[tool."py\\u0074est".ini_options]\n'
                                            'addopts = "-p tests.forger"\n', "tests/forger.py": FORGER_PLUGIN},
                                            {"changes_harness"}),
    "broken tests weakened to return": ({"tests/test_parser.py": WEAKENED}, {"breaks_tests"}),
    "source: logreport hook on the live Config (gc)": (dict([appended("miniconf/__init__.py", SOURCE_GC_HOOK)]),
                                                       {"tampers_with_tests"}),
    "source: the same, named plainly": (dict([appended("miniconf/__init__.py", GC_HOOK)]), {"tampers_with_tests"}),
    "source: TestReport.from_item_and_call patched": (dict([appended("miniconf/__init__.py", SOURCE_PATCHES_REPORTS)]),
                                                       {"tampers_with_tests"}),
    "source: Function.runtest patched": (dict([appended("miniconf/__init__.py", SOURCE_PATCHES_RUNTEST)]),
                                         {"tampers_with_tests"}),
    "source: frames walked to the session's items": (dict([appended("miniconf/__init__.py", SOURCE_WALKS_FRAMES)]),
                                                     {"tampers_with_tests"}),
    "source: a trace function jumps over asserts": (dict([appended("miniconf/__init__.py", SOURCE_TRACES)]),
                                                    {"tampers_with_tests"}),
    "source: the reporter's hook rebound": (dict([appended("miniconf/__init__.py", SOURCE_REBINDS_REPORTER)]),
                                            {"breaks_tests", "tampers_with_tests"}),
    "source: forged records on every descriptor": (dict([appended("miniconf/__init__.py", SOURCE_FORGES_ECHO)]),
                                                   {"breaks_tests", "tampers_with_tests"}),
    "source: a cached .pyc beside the source": ({"miniconf/__pycache__/parser.cpython-311.pyc": "\x00"},
                                                {"compiled_files"}),
    "broken tests deleted": ({"tests/test_parser.py": DELETED}, {"breaks_tests"}),
}


# Variants found by two sweeps of attacks on the source side (tests/data/forgeries, one module
# each, its docstring naming the mechanism): each appended to miniconf/__init__.py. They differ
# from the hand-written source forgeries only in the Python the guard reads, which is the same
# code in every backend's sandbox: they are graded on the local backend, the hand-written ones on
# every backend (the guard and the reporter in place, whatever the backend).
NOT_VALID = {"tampers_with_tests", "report_tampered", "breaks_tests", "unfinished"}
SWEPT = {f"source: {module.stem}": (dict([appended("miniconf/__init__.py", module.read_text())]), NOT_VALID)
         for module in sorted((ROOT / "tests" / "data" / "forgeries").glob("*.py"))}
GRADED = [(backend, name) for backend in ("local", "docker") for name in sorted(FORGERIES)] + [("local", n) for n in sorted(SWEPT)]
FORGERIES |= SWEPT


def forged_candidate(tmp_path: Path, files: dict[str, str | None]) -> tuple[str, str]:
    """The breaking feature and the valid tests, plus the forgery's files (test files into
    tests.patch, the rest into feature.patch, as the splitter sorts them), written as the agent's
    path gives them (as_split)."""
    feature, tests = candidate("valid")
    feature += (CANDIDATES / "breaks_old_test" / "feature.patch").read_text()
    if "tests/conf\\164est.py" in files:  # git writes a name it must quote this way: the path reader decodes it
        return feature, tests + ('diff --git "a/tests/conf\\164est.py" "b/tests/conf\\164est.py"\nnew file mode 100644\n'
                                 '--- /dev/null\n+++ "b/tests/conf\\164est.py"\n@@ -0,0 +1,2 @@\n+def pytest_configure(config):\n'
                                 '+    config.option.maxfail = 0\n')
    for path, text in files.items():
        patch = demo_patch(tmp_path / path.replace("/", "_"), {path: text})
        if diffs.is_test_path(path):
            tests += patch
        else:
            feature += patch
    return as_split(feature, tests)


def as_split(feature: str, tests: str) -> tuple[str, str]:
    """The candidate as a replayed attempt's validation gets it: applied in a sandbox's work tree,
    its diff taken and split as the agent's path does. Both paths of a forgery then grade the same
    patches and share their runs (the run cache); a candidate whose files that path would not keep
    (a cache file git ignores, say) is left as written, so that the patch path grades it as given."""
    task = load_task(DEMO)
    with open_sandbox(task, "local", resolve_repo(task)) as sandbox:
        sandbox.write_file("/tmp/candidate.patch", (feature + tests).encode())
        assert sandbox.run("git apply /tmp/candidate.patch && rm /tmp/candidate.patch", timeout=60).ok
        diff, problem = work_tree_diff(sandbox, task.base_commit)
    split = split_diff(diff, test_patterns=task.test_patterns)
    given = {f.path for f in diffs.parse_diff(feature + tests, "the candidate")}
    if problem or given != {*split.source_files, *split.test_files}:
        return feature, tests
    return split.feature_patch, split.tests_patch


@pytest.mark.slow
def test_the_forgery_setup_is_invalid_with_honest_tests_and_the_valid_feature_stays_valid(backend):
    task = load_task(DEMO)
    feature, tests = candidate("valid")
    breaking = feature + (CANDIDATES / "breaks_old_test" / "feature.patch").read_text()
    settings = ValidationSettings(backend=backend)
    honest = validate_candidate(task, breaking, tests, git_dir=resolve_repo(task), settings=settings)
    assert not honest["valid"] and honest["reason_keys"] == ["breaks_tests"]
    assert sorted(honest["checks"]["pass_to_pass"]["broken"]) == list(BREAKS_FOUR)
    assert validate_candidate(task, feature, tests, git_dir=resolve_repo(task), settings=settings)["valid"]


@pytest.mark.parametrize(("backend", "name"), GRADED, indirect=["backend"])
@pytest.mark.slow
def test_the_candidate_cannot_forge_its_verdict(backend, name, tmp_path):
    files, right = FORGERIES[name]
    feature, tests = forged_candidate(tmp_path, files)
    task = load_task(DEMO)
    verdict = validate_candidate(task, feature, tests, git_dir=resolve_repo(task), settings=ValidationSettings(backend=backend))
    assert not verdict["valid"] and right & set(verdict["reason_keys"]), verdict["reasons"]


def write_and_submit(files: dict[str, str]) -> list[str]:
    """Commands that write `files` into the work tree and a description, then submit."""
    commands = [f"mkdir -p \"$(dirname {path!r})\" && cat > {path!r} <<'COOPERBENCH_EOF'\n{text}COOPERBENCH_EOF"
                for path, text in files.items()]
    return commands + ["printf '**Title**: Forged\\n\\nA feature.\\n' > .feature_description.md"]


def candidate_files(tmp_path: Path, files: dict[str, str | None]) -> list[str]:
    """The forged candidate as commands that write its files in the work tree."""
    feature, tests = forged_candidate(tmp_path, files)
    return [f"cat > /tmp/candidate.patch <<'COOPERBENCH_EOF'\n{feature + tests}COOPERBENCH_EOF",
            "git apply /tmp/candidate.patch && rm /tmp/candidate.patch"]


@pytest.mark.parametrize("name", sorted(FORGERIES))
@pytest.mark.slow
def test_a_whole_replayed_attempt_cannot_forge_its_verdict(demo_copy, tmp_path, name):
    """Each forgery written by an agent, on the local backend: its verdict is graded on both
    backends above (the same patches, as_split), and what a docker sandbox adds under an agent (its
    work tree diff, whatever git config the agent sets) is checked on docker by the next test."""
    files, right = FORGERIES[name]
    result = attack(demo_copy, "local", tmp_path, candidate_files(tmp_path, files) + write_and_submit({}))
    assert not result.verdict["valid"], result.verdict["reasons"]
    assert result.verdict["reason_keys"], result.verdict


@pytest.mark.slow
def test_the_diff_kept_is_the_work_tree_whatever_git_config_the_agent_sets(demo_copy, backend, tmp_path):
    """The agent's own git configuration (an external diff that injects a conftest, a textconv
    that hides the breaking line, attributes that rewrite content) shapes nothing: the pipeline's
    diff shows the work tree as it is, and the verdict sees the break."""
    fake = ("#!/bin/sh\nprintf 'diff --git a/tests/conftest.py b/tests/conftest.py\\nnew file mode 100644\\n"
            "--- /dev/null\\n+++ b/tests/conftest.py\\n@@ -0,0 +1 @@\\n+x = 1\\n'\n")
    commands = candidate_files(tmp_path, {}) + [
        f"cat > /tmp/fake-diff.sh <<'COOPERBENCH_EOF'\n{fake}COOPERBENCH_EOF",
        "chmod +x /tmp/fake-diff.sh && git config diff.external /tmp/fake-diff.sh",
        "git config diff.hide.textconv 'grep -v DELIMITERS' && echo '*.py diff=hide' >> .git/info/attributes",
        "git config filter.strip.clean 'grep -v DELIMITERS' && echo '*.py filter=strip' >> .git/info/attributes",
        "git config core.hooksPath /tmp && git config alias.diff '!echo forged'",
    ] + write_and_submit({})
    result = attack(demo_copy, backend, tmp_path, commands)
    diff = (result.attempt_dir / "agent" / "diff.patch").read_text()
    assert 'DELIMITERS = ("=",)' in diff and "conftest" not in diff
    assert not result.verdict["valid"] and "breaks_tests" in result.verdict["reason_keys"]


@pytest.mark.parametrize("patch_text", [
    'diff --git "a/\\056\\056/x" "b/\\056\\056/x"\nnew file mode 100644\n--- /dev/null\n+++ "b/\\056\\056/x"\n@@ -0,0 +1 @@\n+a\n',
    "diff --git a/miniconf/x.py b/miniconf/x.py\nnew file mode 100644\n--- /dev/null\n+++ b/miniconf/x.py\n@@ -0,0 +1 @@\n+caf\xe9 = 1\n",
    "not a diff at all\n",
])
def test_bad_patches_are_one_line_errors_or_verdicts_never_tracebacks(tmp_path, patch_text):
    patch = tmp_path / "feature.patch"
    patch.write_bytes(patch_text.encode("latin-1"))
    proc = run_cli("validate", "miniconf_task/task1", str(patch), str(CANDIDATES / "valid" / "tests.patch"))
    assert "Traceback" not in proc.stderr
    assert proc.returncode == 0 or proc.stderr.strip().splitlines()[-1].startswith("error: ")


def test_a_huge_patch_is_a_one_line_error_not_minutes_of_grading(tmp_path):
    patch = tmp_path / "feature.patch"
    patch.write_text("diff --git a/miniconf/x.py b/miniconf/x.py\nnew file mode 100644\n--- /dev/null\n+++ b/miniconf/x.py\n"
                     "@@ -0,0 +1,200000 @@\n" + "+x = 1  # padding padding padding padding\n" * 200000)
    proc = run_cli("validate", "miniconf_task/task1", str(patch), str(CANDIDATES / "valid" / "tests.patch"))
    assert_one_line_error(proc, "feature.patch", "MiB")


@pytest.mark.parametrize("flags", [["--timeout", "1e308"], ["--timeout", "inf"]])
def test_absurd_time_limits_are_usage_errors_not_tracebacks(flags):
    proc = run_cli("validate", "miniconf_task/task1", str(CANDIDATES / "valid" / "feature.patch"),
                   str(CANDIDATES / "valid" / "tests.patch"), *flags)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr


@pytest.mark.slow
def test_a_poisoned_accepted_feature_is_named_by_check_feature_and_check_dataset(demo_copy, tmp_path):
    """A feature that forges from its source, once in the dataset as feature7, is a candidate
    again for `check-feature` and `check-dataset`: invalid, the mechanism named, so nothing
    forged is promoted and a poisoned task is known."""
    feature, tests = forged_candidate(tmp_path, dict([appended("miniconf/__init__.py", SOURCE_PATCHES_REPORTS)]))
    poisoned = demo_copy / "feature7"
    poisoned.mkdir()
    (poisoned / "feature.patch").write_text(feature)
    (poisoned / "tests.patch").write_text(tests)
    (poisoned / "feature.md").write_text("**Title**: Forged\n\nA feature.\n")
    dataset = demo_copy.parents[1]
    proc = run_cli("check-feature", "miniconf_task/task1", "7", "--dataset", str(dataset))
    assert "INVALID" in proc.stdout and "reaches into the test runner" in proc.stdout, proc.stdout + proc.stderr
    proc = run_cli("check-dataset", str(demo_copy), "--features", "7")
    assert "| 7 | invalid |" in proc.stdout and "reaches into the test runner" in proc.stdout, proc.stdout + proc.stderr
