"""The local backend for real: bubblewrap jails on this machine."""

from __future__ import annotations

import glob
import os
import socket
import tempfile

import pytest

from conftest import DEMO, ROOT
from cooperbench.generation import GenerationError, load_task
from cooperbench.generation.sandbox import open_sandbox, scrub_env
from cooperbench.generation.sandbox.base import cap_output
from cooperbench.generation.task import resolve_repo


@pytest.fixture(scope="module")
def sandbox():
    task = load_task(DEMO)
    with open_sandbox(task, "local", resolve_repo(task)) as box:
        yield box


def sandbox_dirs() -> set[str]:
    return set(glob.glob(os.path.join(tempfile.gettempdir(), "cb-sandbox-*")))


def test_repo_at_base_commit(sandbox):
    result = sandbox.run("pwd && git rev-parse HEAD && git status --porcelain", timeout=30)
    assert result.ok
    assert result.stdout.split() == ["/workspace/repo", load_task(DEMO).base_commit]


def test_task_dependencies_are_installed(sandbox):
    result = sandbox.run("python -m pytest -q -p no:cacheprovider tests", timeout=60)
    assert result.ok, result.stdout
    assert "25 passed" in result.stdout


def test_exit_code_and_streams(sandbox):
    result = sandbox.run("echo out; echo err >&2; exit 3", timeout=10)
    assert (result.exit_code, result.stdout, result.stderr, result.timed_out) == (3, "out\n", "err\n", False)


def test_time_limit_kills_the_command(sandbox):
    result = sandbox.run("sleep 30 & sleep 30", timeout=1)
    assert result.timed_out and not result.ok
    assert result.duration < 5


def test_no_network(sandbox):
    try:
        address = socket.gethostbyname("pypi.org")  # reachable from the host here
    except OSError:
        address = "1.1.1.1"
    result = sandbox.run(f"python -c \"import socket; socket.create_connection(('{address}', 443), timeout=5)\"", timeout=30)
    assert result.exit_code != 0
    assert "Network is unreachable" in result.stderr


def test_loopback_still_works(sandbox):
    script = (
        "import socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(); "
        "c = socket.create_connection(s.getsockname()); print('ok')"
    )
    assert sandbox.run(f'python -c "{script}"', timeout=30).stdout == "ok\n"


def test_secrets_never_reach_the_sandbox(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-should-not-leak")
    monkeypatch.setenv("GEMINI_API_KEY", "should-not-leak")
    monkeypatch.setenv("GITHUB_TOKEN", "should-not-leak")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "should-not-leak")
    task = load_task(DEMO)
    with open_sandbox(task, "local", resolve_repo(task)) as box:
        result = box.run("env; cat /proc/1/environ 2>/dev/null | tr '\\0' '\\n'", timeout=10)
    assert "should-not-leak" not in result.stdout
    assert "OPENAI_API_KEY" not in result.stdout


def test_scrub_env_patterns():
    kept = scrub_env({"PATH": "/bin", "OPENAI_API_KEY": "x", "HF_TOKEN": "x", "MY_SECRET_THING": "x",
                      "AWS_ACCESS_KEY_ID": "x", "GOOGLE_APPLICATION_CREDENTIALS": "x", "LANG": "C"})
    assert kept == {"PATH": "/bin", "LANG": "C"}


def test_host_files_are_out_of_sight(sandbox):
    assert sandbox.run(f"test -e {ROOT}/README.md", timeout=10).exit_code == 1
    assert sandbox.run("ls /home 2>/dev/null; ls /etc/ssh 2>/dev/null | wc -l", timeout=10).stdout.strip() == "0"


def test_system_is_read_only(sandbox):
    assert sandbox.run("touch /usr/bin/evil", timeout=10).exit_code != 0
    assert sandbox.run("touch /workspace/venv/evil", timeout=10).exit_code != 0


def test_files_in_and_out(sandbox):
    sandbox.write_file("notes/a.txt", b"hello")
    assert sandbox.run("cat notes/a.txt", timeout=10).stdout == "hello"
    sandbox.run("echo made > /tmp/out.txt", timeout=10)
    assert sandbox.read_file("/tmp/out.txt") == b"made\n"
    for bad in ("../escape", "/etc/passwd", "/workspace/repo/../../etc/passwd"):
        with pytest.raises(GenerationError, match="outside the sandbox"):
            sandbox.read_file(bad)


def test_apply_patch(sandbox):
    task = load_task(DEMO)
    assert sandbox.apply_patch(task.feature(6).tests_patch) is None
    assert "tests/test_parser.py" in sandbox.run("git status --porcelain", timeout=10).stdout
    assert sandbox.apply_patch("diff --git a/nope.py b/nope.py\n--- a/nope.py\n+++ b/nope.py\n@@ -1 +1 @@\n-a\n+b\n")


def test_output_is_capped():
    text = "x" * 1000
    capped = cap_output(text, limit=100)
    assert len(capped) < 200 and "900 characters cut" in capped


def test_close_removes_everything_even_on_error():
    task = load_task(DEMO)
    before = sandbox_dirs()
    with pytest.raises(RuntimeError):
        with open_sandbox(task, "local", resolve_repo(task)) as box:
            box.run("true", timeout=10)
            raise RuntimeError("boom")
    assert sandbox_dirs() == before
