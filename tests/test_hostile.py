"""The agent and the candidate as attackers, on both backends: every case asserts its outcome.

Agent cases are replayed sessions whose commands attack (the real agent loop runs them in a real
sandbox); candidate cases are patches whose tests attack the grading. Counted in the README:
escapes, forgeries, leaks, leftovers and tracebacks must all be 0.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from pathlib import Path

import pytest

from conftest import DEMO, ROOT, run_cli
from cooperbench.generation import load_task
from cooperbench.generation.generator import generate_feature
from cooperbench.generation.gitutil import run_git
from cooperbench.generation.task import resolve_repo
from cooperbench.generation.validator import ValidationSettings, validate_candidate

SUBMIT = "echo COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT && git add -A && git diff --cached"
KEY = "sk-hostile-0123456789abcdefghij"
CANDIDATES = ROOT / "tests" / "data" / "candidates"


@pytest.fixture(params=["local", "docker"])
def backend(request):
    if request.param == "docker":
        try:
            import docker

            docker.from_env().ping()
        except Exception as exc:
            if os.environ.get("COOPERBENCH_REQUIRE_DOCKER") == "1":
                pytest.fail(f"COOPERBENCH_REQUIRE_DOCKER=1 but no Docker daemon answers: {exc}")
            pytest.skip("no Docker daemon answers (scripts/docker-setup.sh starts one)")
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


def test_background_processes_die_with_the_sandbox(demo_copy, backend, tmp_path):
    attack(demo_copy, backend, tmp_path, ["(sleep 98765 &) ; nohup sleep 98765 >/dev/null 2>&1 & disown; true"])
    assert "sleep 98765" not in subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout


def test_a_fork_bomb_and_a_memory_hog_are_bounded(demo_copy, backend, tmp_path):
    result = attack(demo_copy, backend, tmp_path, [
        "bomb() { bomb | bomb & }; bomb; sleep 5; true",
        "python -c \"x = bytearray(10 * 1024**3)\"; true"])
    assert result.usage["exit_status"] == "Submitted"  # the session went on; the host did too


def test_fifo_sparse_and_flood_outputs_do_not_hang_or_exhaust_the_host(demo_copy, backend, tmp_path):
    result = attack(demo_copy, backend, tmp_path, [
        "mkfifo .feature_description.md; truncate -s 3G /tmp/sparse; head -c 300000000 /dev/zero | tr '\\0' y; true"])
    assert result.feature_md == "" and "no_description" in result.verdict["reason_keys"]


def test_deleting_git_is_a_result_not_a_crash(demo_copy, backend, tmp_path):
    result = attack(demo_copy, backend, tmp_path, ["echo x >> README.md && rm -rf .git"])
    assert result.verdict["reason_keys"] == ["no_diff"]


def candidate(name: str) -> tuple[str, str]:
    return (CANDIDATES / name / "feature.patch").read_text(), (CANDIDATES / name / "tests.patch").read_text()


def new_file(path: str, body: str) -> str:
    lines = body.splitlines()
    return (f"diff --git a/{path} b/{path}\nnew file mode 100644\nindex 0000000..1111111\n--- /dev/null\n+++ b/{path}\n"
            f"@@ -0,0 +1,{len(lines)} @@\n" + "".join(f"+{line}\n" for line in lines))


REWRITE_REPORT_AT_EXIT = '''import atexit, glob, json, os

def _forge():
    for path in glob.glob(os.environ.get("COOPERBENCH_REPORTS", "/nowhere") + "/*.jsonl"):
        lines = [json.loads(l) for l in open(path) if l.strip()]
        with open(path, "w") as out:
            for record in lines:
                record["outcome"] = "passed"
                out.write(json.dumps(record) + "\\n")

atexit.register(_forge)


def test_forged():
    assert False, "this test fails; the report will say otherwise"
'''


def _append_to_writer_tests(code: str) -> str:
    """A hunk appending `code` to tests/test_writer.py (a file the demo's runner runs)."""
    original = (DEMO / "repo" / "tests" / "test_writer.py").read_text().splitlines()
    added = ["", "", *code.splitlines()]
    first = len(original) - 2
    return (f"diff --git a/tests/test_writer.py b/tests/test_writer.py\n--- a/tests/test_writer.py\n+++ b/tests/test_writer.py\n"
            f"@@ -{first},3 +{first},{3 + len(added)} @@\n" + "".join(f" {line}\n" for line in original[-3:])
            + "".join(f"+{line}\n" for line in added))


FORGERIES = {
    "conftest plugin": (new_file("tests/conftest.py", "def pytest_sessionfinish(session):\n    pass"), "changes_harness"),
    "pytest.ini": (new_file("pytest.ini", "[pytest]\naddopts = -p no:cooperbench_pytest"), "changes_harness"),
    "report rewritten at exit": (_append_to_writer_tests(REWRITE_REPORT_AT_EXIT), "report_tampered"),
}


@pytest.mark.parametrize("name", sorted(FORGERIES))
def test_the_candidate_cannot_forge_its_verdict(backend, name):
    extra, key = FORGERIES[name]
    feature, tests = candidate("valid")
    task = load_task(DEMO)
    verdict = validate_candidate(task, feature, tests + extra, git_dir=resolve_repo(task), settings=ValidationSettings(backend=backend))
    assert not verdict["valid"] and key in verdict["reason_keys"], verdict["reasons"]


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
