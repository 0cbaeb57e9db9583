"""The docker backend against a real daemon (CI starts one with scripts/docker-setup.sh).

Skipped, saying why, when no daemon answers, unless COOPERBENCH_REQUIRE_DOCKER=1 (CI sets it),
which turns the skip into a failure so a missing daemon cannot pass unnoticed.
"""

from __future__ import annotations

import os
import time

import pytest

from conftest import DEMO, ROOT
from cooperbench.generation import GenerationError, load_task
from cooperbench.generation.sandbox import open_sandbox
from cooperbench.generation.validator import ValidationSettings, validate_candidate
from cooperbench.generation.task import resolve_repo

CANDIDATES = ROOT / "tests" / "data" / "candidates"


@pytest.fixture(scope="module")
def daemon():
    try:
        import docker

        client = docker.from_env()
        client.ping()
    except Exception as exc:
        if os.environ.get("COOPERBENCH_REQUIRE_DOCKER") == "1":
            pytest.fail(f"COOPERBENCH_REQUIRE_DOCKER=1 but no Docker daemon answers: {exc}")
        pytest.skip("no Docker daemon answers (run scripts/docker-setup.sh to test the docker backend)")
    return client


def our_containers(client) -> list:
    return client.containers.list(all=True, filters={"label": "cooperbench=sandbox"})


@pytest.fixture(scope="module")
def box(daemon):
    with open_sandbox(load_task(DEMO), "docker") as sandbox:
        yield sandbox


def test_repo_at_base_commit_in_the_image(box):
    result = box.run("pwd && git rev-parse HEAD && git status --porcelain", timeout=30)
    assert result.ok, result.stderr
    assert result.stdout.split() == ["/workspace/repo", load_task(DEMO).base_commit]


def test_exit_code_streams_and_tests(box):
    result = box.run("echo out; echo err >&2; exit 3", timeout=10)
    assert (result.exit_code, result.stdout, result.stderr) == (3, "out\n", "err\n")
    assert "25 passed" in box.run("python -m pytest -q -p no:cacheprovider tests", timeout=60).stdout


def test_time_limit(box):
    result = box.run("sleep 30", timeout=2)
    assert result.timed_out and result.duration < 10


def test_no_network_and_no_secrets(daemon, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-should-not-leak")
    with open_sandbox(load_task(DEMO), "docker") as sandbox:
        env = sandbox.run("env", timeout=10).stdout
        interfaces = sandbox.run("ls /sys/class/net", timeout=10).stdout.split()
    assert "should-not-leak" not in env
    assert interfaces == ["lo"]


def test_files_and_patches(box):
    box.write_file("notes/a.txt", b"hello")
    assert box.read_file("notes/a.txt") == b"hello"
    assert box.read_file("/workspace/repo/notes/a.txt") == b"hello"
    with pytest.raises(FileNotFoundError):
        box.read_file("/nope")
    assert box.apply_patch(load_task(DEMO).feature(2).tests_patch) is None


def test_container_removed_on_error(daemon):
    before = len(our_containers(daemon))
    with pytest.raises(RuntimeError):
        with open_sandbox(load_task(DEMO), "docker"):
            assert len(our_containers(daemon)) == before + 1
            raise RuntimeError("boom")
    assert len(our_containers(daemon)) == before


def test_validation_on_docker(daemon):
    before = len(our_containers(daemon))
    task = load_task(DEMO)
    feature, tests = ((CANDIDATES / "valid" / name).read_text() for name in ("feature.patch", "tests.patch"))
    verdict = validate_candidate(task, feature, tests, git_dir=resolve_repo(task), settings=ValidationSettings(backend="docker"))
    assert verdict["valid"], verdict["reasons"]
    assert verdict["backend"] == "docker" and "docker" in verdict["versions"]
    hang_feature, hang_tests = ((CANDIDATES / "hangs" / name).read_text() for name in ("feature.patch", "tests.patch"))
    started = time.monotonic()
    verdict = validate_candidate(task, hang_feature, hang_tests, git_dir=resolve_repo(task),
                                 settings=ValidationSettings(backend="docker", timeout=3))
    assert time.monotonic() - started < 30
    assert "timeout: the after test run passed the 3 s limit" in verdict["reasons"]
    assert len(our_containers(daemon)) == before  # both sandboxes of each run removed


def test_missing_image_without_dockerfile(daemon, demo_copy):
    (demo_copy / "Dockerfile").unlink()
    renamed = demo_copy.parent.parent / "nonexistent_task" / "task9"
    renamed.parent.mkdir()
    demo_copy.rename(renamed)
    with pytest.raises(GenerationError, match="cannot be pulled, and .*Dockerfile does not exist"):
        open_sandbox(load_task(renamed), "docker")


def test_replayed_agent_attempt_on_docker(daemon, tmp_path):
    """The whole attempt (agent, split, validation) in containers of the task's image."""
    from cooperbench.generation.generator import generate_feature

    before = len(our_containers(daemon))
    result = generate_feature(DEMO, "replay/conflicting", "docker", output=tmp_path)
    assert result.success, result.verdict["reasons"]
    assert result.usage["backend"] == "docker" and result.verdict["backend"] == "docker"
    assert len(our_containers(daemon)) == before
