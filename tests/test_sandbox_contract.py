"""One contract, every backend: the same scenarios on the local jail, docker (when a daemon
answers) and Modal (its SDK stood in for by sandboxes that are real local jails, every call
checked against the installed SDK's signatures): the repository at the base commit, files in
and out, a HOME, exit codes, timeouts."""

from __future__ import annotations

import pytest
from conftest import DEMO
from test_sandbox_modal import stand_in_modal

from cooperbench.generation import load_task
from cooperbench.generation.core import contract
from cooperbench.generation.sandbox.backends import open_sandbox
from cooperbench.generation.tasks.task import resolve_repo


@pytest.fixture(params=["local", "docker", "modal"])
def box(request, monkeypatch, isolated_cache):
    task = load_task(DEMO)
    if request.param == "docker":
        request.getfixturevalue("daemon")
    if request.param == "modal":
        stand_in_modal(monkeypatch, task)
    with open_sandbox(task, request.param, resolve_repo(task)) as sandbox:
        yield task, sandbox


def test_the_repository_at_the_base_commit_and_a_home(box):
    task, sandbox = box
    result = sandbox.run('pwd && git rev-parse HEAD && git status --porcelain && touch "$HOME/x" && echo home', timeout=60)
    assert result.ok, result.stderr
    assert result.stdout.split() == [contract.REPO_DIR, task.base_commit, "home"]


def test_files_in_and_out(box):
    _, sandbox = box
    sandbox.write_file(f"{contract.PATCHES_DIR}/note.txt", b"one\x00two")
    assert sandbox.read_file(f"{contract.PATCHES_DIR}/note.txt") == b"one\x00two"
    assert sandbox.read_file(f"{contract.PATCHES_DIR}/note.txt", 3) == b"one"
    with pytest.raises(FileNotFoundError):
        sandbox.read_file(f"{contract.PATCHES_DIR}/absent.txt")
    assert sandbox.run(f"echo report > {contract.REPORTS_DIR}/r.json", timeout=60).ok
    assert sandbox.read_dir(contract.REPORTS_DIR) == {"r.json": b"report\n"}


@pytest.mark.slow
def test_exit_codes_and_timeouts(box):
    _, sandbox = box
    failed = sandbox.run("echo out; echo err >&2; exit 3", timeout=60)
    assert (failed.exit_code, failed.stdout, failed.stderr, failed.timed_out) == (3, "out\n", "err\n", False)
    assert sandbox.run("sleep 30", timeout=2).timed_out
