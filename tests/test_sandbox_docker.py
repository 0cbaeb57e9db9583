"""The docker backend against a real daemon (CI starts one with scripts/docker-setup.sh).

Skipped, saying why, when no daemon answers, unless COOPERBENCH_REQUIRE_DOCKER=1 (CI sets it),
which turns the skip into a failure so a missing daemon cannot pass unnoticed.
"""

from __future__ import annotations

import subprocess
import sys

import docker.errors
import pytest
from conftest import DEMO, ROOT, sandboxes_at_once

from cooperbench.generation import load_task
from cooperbench.generation.sandbox import docker_backend
from cooperbench.generation.sandbox.backends import open_sandbox
from cooperbench.generation.sandbox.limits import Limits
from cooperbench.generation.schemas import ValidationSettings
from cooperbench.generation.tasks.environment import EnvironmentFailure
from cooperbench.generation.tasks.task import resolve_repo
from cooperbench.generation.validation.candidate import validate_candidate

pytestmark = pytest.mark.docker

CANDIDATES = ROOT / "tests" / "data" / "candidates"


def ours(client) -> list:
    """Sandbox containers this test process owns (others may run on the same daemon)."""
    me = docker_backend.owner()
    return [c["Id"] for c in client.api.containers(all=True, filters={"label": "cooperbench=sandbox"})
            if (c.get("Labels") or {}).get("cooperbench.owner") == me]


@pytest.fixture(scope="module")
def box(daemon):
    task = load_task(DEMO)
    with open_sandbox(task, "docker", resolve_repo(task)) as sandbox:
        yield sandbox


def test_environment_image_built_over_the_offline_base(box, daemon):
    result = box.run("pwd && git rev-parse HEAD && git status --porcelain && id -u", timeout=30)
    assert result.ok, result.stderr
    assert result.stdout.split() == ["/workspace/repo", load_task(DEMO).base_commit, "1000"]
    assert box.image.startswith("cooperbench-env/miniconf_task:task1-")
    assert "25 passed" in box.run("python -m pytest -q -p no:cacheprovider tests", timeout=60).stdout


def test_exit_code_streams_and_time_limit(box):
    result = box.run("echo out; echo err >&2; exit 3", timeout=10)
    assert (result.exit_code, result.stdout, result.stderr) == (3, "out\n", "err\n")
    assert box.run("sleep 30", timeout=2).timed_out


def test_no_network_and_no_variable_of_the_caller(daemon, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-should-not-leak")
    monkeypatch.setenv("DEEPSEEK_KEY", "should-not-leak")
    task = load_task(DEMO)
    with open_sandbox(task, "docker", resolve_repo(task)) as sandbox:
        env = sandbox.run("env", timeout=10).stdout
        interfaces = sandbox.run("ls /sys/class/net", timeout=10).stdout.split()
    assert "should-not-leak" not in env
    assert interfaces == ["lo"]


def test_files_in_and_out_are_bounded(box):
    box.write_file("notes/a.txt", b"hello")
    assert box.read_file("notes/a.txt") == b"hello"
    assert box.read_file("/workspace/repo/notes/a.txt") == b"hello"
    with pytest.raises(FileNotFoundError):
        box.read_file("/nope")
    box.run("mkfifo /tmp/pipe && head -c 50000000 /dev/zero > /tmp/big", timeout=30)
    with pytest.raises(FileNotFoundError):
        box.read_file("/tmp/pipe")
    assert len(box.read_file("/tmp/big", limit=1000)) == 1000
    result = box.run("head -c 300000000 /dev/zero | tr '\\0' x", timeout=120)
    assert len(result.stdout) < 9 * 1024 * 1024 and "bytes cut" in result.stdout and result.truncated
    box.run("ln -s /etc linked && ln -s /etc/hostname name-link", timeout=30)  # a folder and a file, linked out
    for path in ("linked/hostname", "name-link", "/workspace/repo/linked/passwd"):
        with pytest.raises(FileNotFoundError):
            box.read_file(path)


def test_disk_limit(daemon):
    task = load_task(DEMO)
    with docker_backend.DockerSandbox(task, resolve_repo(task), limits=Limits(disk=100 * 1024 * 1024)) as sandbox:
        result = sandbox.run("head -c 200000000 /dev/zero > /workspace/repo/fill", timeout=60)
    assert result.limit and "disk limit" in result.limit


def test_container_removed_on_error_and_reaped_after_a_kill(daemon):
    task = load_task(DEMO)
    before = len(ours(daemon))
    with pytest.raises(RuntimeError):
        with open_sandbox(task, "docker", resolve_repo(task)):
            assert len(ours(daemon)) == before + 1
            raise RuntimeError("boom")
    assert len(ours(daemon)) == before
    script = (
        "import os; from cooperbench.generation import load_task; from cooperbench.generation.tasks.task import resolve_repo;"
        "from cooperbench.generation.sandbox.backends import open_sandbox;"
        f"t = load_task({str(DEMO)!r}); box = open_sandbox(t, 'docker', resolve_repo(t));"
        "print(box.container.id, flush=True); os.kill(os.getpid(), 9)"
    )
    left = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True).stdout.strip()
    assert left and daemon.containers.get(left)  # SIGKILL: nothing could clean up
    docker_backend.client()  # the next start reaps what dead owners left
    try:  # or another process's start is removing it (a second removal is refused while one runs)
        daemon.api.wait(left, condition="removed", timeout=120)
    except docker.errors.NotFound:  # removed already
        pass
    assert left not in [c["Id"] for c in daemon.api.containers(all=True)]  # no inspect: others' may go meanwhile


def test_many_sandboxes_at_once_never_trip_over_each_others_cleanup(daemon):
    before = len(ours(daemon))
    sandboxes_at_once("docker")
    assert len(ours(daemon)) == before


def test_validation_on_docker(daemon):
    before = len(ours(daemon))
    task = load_task(DEMO)
    feature, tests = ((CANDIDATES / "valid" / name).read_text() for name in ("feature.patch", "tests.patch"))
    verdict = validate_candidate(task, feature, tests, git_dir=resolve_repo(task), settings=ValidationSettings(backend="docker"))
    assert verdict["valid"], verdict["reasons"]
    assert verdict["backend"] == "docker" and "docker" in verdict["log"]["versions"]
    hang_feature, hang_tests = ((CANDIDATES / "hangs" / name).read_text() for name in ("feature.patch", "tests.patch"))
    verdict = validate_candidate(task, hang_feature, hang_tests, git_dir=resolve_repo(task),
                                 settings=ValidationSettings(backend="docker", timeout=5))
    assert "timeout: the after test run passed the 5 s limit" in verdict["reasons"]
    assert len(ours(daemon)) == before  # every sandbox of each run removed


def test_no_image_to_be_had_says_both(daemon, demo_copy, monkeypatch):
    dockerfile = demo_copy / "Dockerfile"
    dockerfile.write_text(dockerfile.read_text().replace("FROM cooperbench-base:bookworm", "FROM python:3.11-slim"))
    monkeypatch.setattr(docker_backend, "OFFLINE_BASE", "cooperbench-no-such-base:none")
    task = load_task(demo_copy)
    with pytest.raises(EnvironmentFailure, match="the published akhatua/cooperbench-miniconf:task1 cannot be had .* nor the "
                                                 "Dockerfile's base python:3.11-slim"):
        open_sandbox(task, "docker", resolve_repo(task))


def test_a_base_image_that_cannot_be_had_is_named_when_a_step_fails_without_it(daemon, demo_copy):
    """golang:1.21-alpine cannot be pulled here; over the offline Debian base its `apk` step
    fails: the failure names the base that could not be had, not only the missing tool."""
    dockerfile = demo_copy / "Dockerfile"
    dockerfile.write_text(dockerfile.read_text().replace("FROM cooperbench-base:bookworm",
                                                         "FROM golang:1.21-alpine\nRUN apk add --no-cache git"))
    task = load_task(demo_copy)
    with pytest.raises(EnvironmentFailure, match=r"the Dockerfile's base golang:1.21-alpine cannot be had here .*"
                                                 r"built over cooperbench-base:bookworm, where .*apk"):
        open_sandbox(task, "docker", resolve_repo(task))


def test_replayed_agent_attempt_on_docker(daemon, tmp_path):
    """The whole attempt (agent, split, validation) in containers of the task's environment."""
    from test_verify import json_answer, verify_answers

    from cooperbench.generation.api import generate_feature

    before = len(ours(daemon))
    result = generate_feature(DEMO, "replay/conflicting", "docker", output=tmp_path)
    assert result.success, result.verdict["reasons"]
    assert result.usage["backend"] == "docker" and result.verdict["backend"] == "docker"
    early, late = verify_answers(result.trajectory_path)  # cooperbench-verify, answered from containers
    assert "NOT VALID" in early and json_answer(late)["valid"]
    assert len(ours(daemon)) == before
