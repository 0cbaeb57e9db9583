"""The modal backend up to the SDK call (Modal's servers cannot be reached here), plus a real
integration test that runs only when Modal credentials exist."""

from __future__ import annotations

import os
from pathlib import Path

import modal
import pytest

from conftest import DEMO
from cooperbench.generation import GenerationError, load_task
from cooperbench.generation.sandbox import open_sandbox
from cooperbench.generation.sandbox.modal_backend import APP_NAME


class FakeStream:
    def __init__(self, text: str):
        self.text = text

    def read(self) -> str:
        return self.text


class FakeProcess:
    def __init__(self, code: int, out: str = "", err: str = ""):
        self.code, self.stdout, self.stderr = code, FakeStream(out), FakeStream(err)

    def wait(self) -> int:
        return self.code


class FakeFilesystem:
    def __init__(self):
        self.files: dict[str, bytes] = {}

    def write_bytes(self, data: bytes, path: str) -> None:
        self.files[path] = data

    def read_bytes(self, path: str) -> bytes:
        return self.files[path]


class FakeSandbox:
    def __init__(self):
        self.execs: list[tuple] = []
        self.filesystem = FakeFilesystem()
        self.terminated = False
        self.next_code = 0

    def exec(self, *args, **kwargs):
        self.execs.append((args, kwargs))
        return FakeProcess(self.next_code, out="ok\n")

    def terminate(self):
        self.terminated = True


@pytest.fixture
def fake_modal(monkeypatch):
    """Record what the backend asks of the SDK, in place of Modal's servers."""
    calls: dict = {}
    sandbox = FakeSandbox()

    def lookup(name, create_if_missing=False):
        calls["app"] = (name, create_if_missing)
        return "APP"

    class FakeImage:
        def entrypoint(self, commands):
            calls["entrypoint"] = commands
            return "IMAGE"

    def from_registry(tag):
        calls["image"] = tag
        return FakeImage()

    def create(*args, **kwargs):
        calls["create"] = (args, kwargs)
        return sandbox

    monkeypatch.setattr(modal.App, "lookup", lookup)
    monkeypatch.setattr(modal.Image, "from_registry", from_registry)
    monkeypatch.setattr(modal.Sandbox, "create", create)
    return calls, sandbox


def test_sandbox_is_created_from_the_task_image_without_network(fake_modal, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-should-not-leak")
    calls, sandbox = fake_modal
    with open_sandbox(load_task(DEMO), "modal"):
        pass
    assert calls["app"] == (APP_NAME, True)
    assert calls["image"] == "akhatua/cooperbench-miniconf:task1"
    assert calls["entrypoint"] == []
    args, kwargs = calls["create"]
    assert args == ("sleep", "infinity")
    assert kwargs["image"] == "IMAGE" and kwargs["block_network"] is True
    assert kwargs["workdir"] == "/workspace/repo" and kwargs["timeout"] > 0
    assert "secrets" not in kwargs and "env" not in kwargs  # nothing of ours goes in
    assert sandbox.terminated


def test_commands_files_and_timeouts(fake_modal):
    _, sandbox = fake_modal
    with open_sandbox(load_task(DEMO), "modal") as box:
        result = box.run("echo ok", timeout=30)
        assert result.ok and result.stdout == "ok\n"
        args, kwargs = sandbox.execs[-1]
        assert args == ("bash", "-c", "echo ok") and kwargs == {"workdir": "/workspace/repo", "timeout": 30}
        sandbox.next_code = -1  # what the SDK reports for an exec killed at its timeout
        assert box.run("sleep 99", timeout=1).timed_out
        sandbox.next_code = 0
        box.write_file("a/b.txt", b"x")
        assert sandbox.filesystem.files == {"/workspace/repo/a/b.txt": b"x"}
        assert box.read_file("/workspace/repo/a/b.txt") == b"x"
        with pytest.raises(FileNotFoundError):
            box.read_file("missing")


def test_refused_credentials_are_one_line(monkeypatch):
    def refuse(*args, **kwargs):
        raise modal.exception.AuthError("Token missing")

    monkeypatch.setattr(modal.App, "lookup", refuse)
    with pytest.raises(GenerationError, match=r"Modal refused the credentials \(Token missing\); run `modal token new`"):
        open_sandbox(load_task(DEMO), "modal")


def modal_credentials() -> bool:
    return bool(os.environ.get("MODAL_TOKEN_ID") or (Path.home() / ".modal.toml").exists())


@pytest.mark.skipif(not modal_credentials(), reason="no Modal credentials (MODAL_TOKEN_ID or ~/.modal.toml): the real Modal test is skipped")
def test_real_modal_sandbox_of_a_published_image(tmp_path):
    """A published CooperBench image on Modal's servers: the repository is at /workspace/repo."""
    task_dir = tmp_path / "samuelcolvin_dirty_equals_task" / "task43"
    task_dir.mkdir(parents=True)
    (task_dir / "setup.sh").write_text(f"BASE_COMMIT={'0' * 40}\n")
    feature = task_dir / "feature1"
    feature.mkdir()
    for name in ("feature.md", "feature.patch", "tests.patch"):
        (feature / name).write_text((DEMO / "feature1" / name).read_text())
    with open_sandbox(load_task(task_dir), "modal") as box:
        result = box.run("git rev-parse --is-inside-work-tree", timeout=120)
    assert result.stdout.strip() == "true"


class LocalBackedSandbox:
    """Stands in for Modal's servers: the SDK surface our backend uses (exec, filesystem,
    terminate), carried out by a real local jail of the same task."""

    def __init__(self, task):
        from cooperbench.generation.sandbox.local_backend import LocalSandbox
        from cooperbench.generation.task import resolve_repo

        self.box = LocalSandbox(task, resolve_repo(task))
        self.filesystem = self

    def exec(self, *args, workdir=None, timeout=None):
        command = args[2] if args[:2] == ("bash", "-c") else " ".join(args)
        result = self.box.run(command, timeout=timeout or 60, cwd=workdir)
        return FakeProcess(-1 if result.timed_out else result.exit_code, result.stdout, result.stderr)

    def write_bytes(self, data: bytes, path: str) -> None:
        self.box.write_file(path, data)

    def read_bytes(self, path: str) -> bytes:
        return self.box.read_file(path)

    def terminate(self) -> None:
        self.box.close()


def test_generation_fans_out_over_modal_sandboxes(monkeypatch, tmp_path):
    """Attempts through the modal backend, everything of ours real up to the SDK: each attempt
    gets one sandbox for the agent and two for validation, all with the network blocked."""
    from cooperbench.generation.agent import AgentSettings
    from cooperbench.generation.generator import generate_features

    task = load_task(DEMO)
    created = []

    def create(*args, **kwargs):
        created.append(kwargs)
        return LocalBackedSandbox(task)

    monkeypatch.setattr(modal.App, "lookup", lambda name, create_if_missing=False: "APP")
    monkeypatch.setattr(modal.Image, "from_registry", lambda tag: modal.Image.debian_slim())
    monkeypatch.setattr(modal.Sandbox, "create", create)
    results = generate_features(task, AgentSettings(model="replay/conflicting"), backend="modal", attempts=2,
                                jobs=2, output=tmp_path)
    assert [r.success for r in results] == [True, True]
    assert all(r.usage["backend"] == "modal" and r.verdict["backend"] == "modal" for r in results)
    assert len(created) == 6 and all(kwargs["block_network"] for kwargs in created)
