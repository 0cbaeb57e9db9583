"""The modal backend up to the SDK call (Modal's servers cannot be reached here), plus a real
integration test that runs only when Modal credentials exist.

The SDK is stood in for at its surface: `App.lookup`, `Image.*`, `Sandbox.create/list`, and a
sandbox's `exec`, `filesystem` and `snapshot_filesystem`. Everything of ours above it is real."""

from __future__ import annotations

import inspect
import os
import uuid
from pathlib import Path
from types import SimpleNamespace

import modal
import pytest
from conftest import DEMO, git

from cooperbench.generation import GenerationError, load_task
from cooperbench.generation.sandbox import modal_backend
from cooperbench.generation.sandbox.backends import open_sandbox
from cooperbench.generation.tasks.task import resolve_repo

REAL_CREATE = modal.Sandbox.create


def own_workspace(monkeypatch) -> None:
    """A Modal workspace (token id) of this test's own: the record of built images lives in the
    session's cache, which the xdist workers share, and is kept per workspace; a shared one let a
    test on one worker read the image another test's fake build had recorded."""
    monkeypatch.setenv("MODAL_TOKEN_ID", f"test-{uuid.uuid4().hex}")


def bind(call, *args, **kwargs) -> None:
    """Fail as the SDK would on an argument it does not take: the fakes check every call against
    the installed SDK's signature."""
    inspect.signature(call).bind(*args, **kwargs)


class FakeProcess:
    def __init__(self, code: int, out: bytes = b"", err: bytes = b""):
        self.code, self.stdout, self.stderr = code, [out] if out else [], [err] if err else []

    def wait(self) -> int:
        return self.code


class FakeFilesystem:
    def __init__(self):
        self.files: dict[str, bytes] = {}

    def make_directory(self, path: str) -> None:
        pass

    def write_bytes(self, data: bytes, path: str) -> None:
        self.files[path] = bytes(data)

    def stat(self, path: str):
        if path not in self.files:
            raise modal.exception.SandboxFilesystemNotFoundError(path)  # what the SDK raises
        return SimpleNamespace(type=SimpleNamespace(value="file"), size=len(self.files[path]))

    def list_files(self, path: str):
        return [SimpleNamespace(name=p.rsplit("/", 1)[1], type=SimpleNamespace(value="file"))
                for p in self.files if p.rsplit("/", 1)[0] == path]


class FakeSandbox:
    """Answers every exec with success (`head -c` reads from the fake filesystem)."""

    def __init__(self):
        self.execs: list[tuple] = []
        self.filesystem = FakeFilesystem()
        self.terminated = False
        self.next_code = 0

    def exec(self, *args, **kwargs):
        bind(modal.Sandbox.exec, self, *args, **kwargs)
        self.execs.append((args, kwargs))
        if args[0] == "head":
            return FakeProcess(0, self.filesystem.files[args[3]][: int(args[2])])
        return FakeProcess(self.next_code, out=b"2024-01-01T00:00:00+00:00\n" if "git show" in args[-1] else b"ok\n")

    def snapshot_filesystem(self, timeout=55, ttl=None):
        self.snapshot = (timeout, ttl)
        return SimpleNamespace(object_id="im-snapshot123")

    def terminate(self):
        self.terminated = True


@pytest.fixture
def fake_modal(monkeypatch):
    """Record what the backend asks of the SDK, in place of Modal's servers."""
    calls: dict = {"create": []}
    sandboxes: list[FakeSandbox] = []
    own_workspace(monkeypatch)  # no image recorded yet

    class FakeImage:
        def __init__(self, tag):
            self.tag = tag

        def entrypoint(self, commands):
            calls["entrypoint"] = commands
            return self

        def build(self, app):
            if self.tag in calls.get("unpullable", ()):
                raise modal.exception.NotFoundError(f"{self.tag}: no such image")
            calls["built"] = self.tag
            return self

        def apt_install(self, *packages):
            calls["apt"] = packages
            return self

        def add_local_dir(self, local_path, remote_path, *, copy=False):
            calls["uploaded"] = (Path(local_path), remote_path, copy)
            return self

    def create(*args, **kwargs):
        bind(REAL_CREATE, *args, **kwargs)
        calls["create"].append((args, kwargs))
        sandboxes.append(FakeSandbox())
        return sandboxes[-1]

    monkeypatch.setattr(modal.App, "lookup", lambda name, create_if_missing=False: SimpleNamespace(app_id="ap-1", name=name))
    monkeypatch.setattr(modal.Image, "from_registry", lambda tag: FakeImage(tag))
    monkeypatch.setattr(modal.Image, "debian_slim", lambda python_version=None: FakeImage(f"debian_slim:{python_version}"))
    monkeypatch.setattr(modal.Image, "from_id", lambda image_id: SimpleNamespace(object_id=image_id))
    monkeypatch.setattr(modal.Sandbox, "create", create)
    monkeypatch.setattr(modal.Sandbox, "list", lambda app_id=None, tags=None: [])
    return calls, sandboxes


def test_environment_image_is_built_once_then_reused(fake_modal, isolated_cache):
    calls, sandboxes = fake_modal
    task = load_task(DEMO)
    with open_sandbox(task, "modal"):
        pass
    builder, first = sandboxes[0], sandboxes[1]
    assert calls["built"] == "akhatua/cooperbench-miniconf:task1" and calls["entrypoint"] == []
    _, build_kwargs = calls["create"][0]
    assert build_kwargs["block_network"] is False  # the build installs: network on
    assert builder.snapshot == (600, None) and builder.terminated
    scripts = [args[-1] for args, _ in builder.execs if args[0] == "bash"]
    assert any("runner.sh tests.patch" in script for script in scripts)  # the recorded warm-up run
    assert "/opt/cooperbench/bin/pip" in builder.filesystem.files
    _, run_kwargs = calls["create"][1]
    assert run_kwargs["image"].object_id == "im-snapshot123" and run_kwargs["block_network"] is True
    assert run_kwargs["tags"]["cooperbench"] == "sandbox" and run_kwargs["timeout"] > 0
    assert "secrets" not in run_kwargs and "env" not in run_kwargs  # nothing of ours goes in
    assert first.terminated
    with open_sandbox(task, "modal"):
        pass
    assert len(sandboxes) == 3  # no second build: the image id was kept


def test_an_unpublished_task_is_built_as_on_docker(fake_modal, isolated_cache):
    """The demo's image is not published and its Dockerfile's base exists only on this machine's
    daemon: Modal builds over Debian with Python 3.11, the repository at the base commit uploaded,
    and replays the Dockerfile's steps, as the docker backend does (no step skipped that docker runs)."""
    calls, sandboxes = fake_modal
    task = load_task(DEMO)
    calls["unpullable"] = {task.image}
    with pytest.raises(GenerationError, match="needs the task's repository"):
        open_sandbox(task, "modal")
    with open_sandbox(task, "modal", resolve_repo(task)):
        pass
    assert calls["built"] == "debian_slim:3.11" and calls["apt"] == ("git", "ca-certificates")
    checkout, remote, copied = calls["uploaded"]
    assert remote == "/workspace/repo" and copied
    assert git(checkout, "rev-parse", "HEAD").strip() == task.base_commit
    scripts = [args[-1] for args, _ in sandboxes[0].execs if args[0] == "bash"]
    assert any('pip install -e ".[dev]"' in script for script in scripts)  # the Dockerfile's step, replayed
    assert any("git reset -q --hard" in script for script in scripts)  # finished as docker's are


def test_an_image_gone_from_the_workspace_is_built_again(fake_modal, isolated_cache):
    from cooperbench.generation.errors import InfrastructureError

    calls, sandboxes = fake_modal
    task = load_task(DEMO)
    record = modal_backend.image_record(modal, task)
    record.parent.mkdir(parents=True, exist_ok=True)
    record.write_text("im-deleted\n")
    create = modal.Sandbox.create

    def gone(*args, **kwargs):
        if getattr(kwargs["image"], "object_id", None) == "im-deleted":
            raise modal.exception.NotFoundError("Image im-deleted not found")
        return create(*args, **kwargs)

    modal.Sandbox.create = gone
    try:
        with pytest.raises(InfrastructureError, match="no longer has .* environment image"):
            open_sandbox(task, "modal")
        assert not record.exists()
        with open_sandbox(task, "modal"):  # the retry: built again
            pass
    finally:
        modal.Sandbox.create = create
    assert record.read_text().strip() == "im-snapshot123"


def test_commands_files_and_timeouts(fake_modal, monkeypatch, isolated_cache):
    _, sandboxes = fake_modal
    monkeypatch.setenv("OPENAI_API_KEY", "sk-should-not-leak")
    with open_sandbox(load_task(DEMO), "modal") as box:
        sandbox = sandboxes[-1]
        result = box.run("echo ok", timeout=30)
        assert result.ok and result.stdout == "ok\n"
        args, kwargs = sandbox.execs[-1]
        assert args == ("bash", "-c", "echo ok") and kwargs["workdir"] == "/workspace/repo" and kwargs["timeout"] == 30
        assert "sk-should-not-leak" not in str(kwargs["env"])
        box.write_file("a/b.txt", b"x" * 100)
        assert box.read_file("/workspace/repo/a/b.txt", limit=10) == b"x" * 10
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
def test_real_modal_sandbox_of_a_published_task(tmp_path):
    """A real CooperBench task on Modal's servers: environment built, repository at the base."""
    shared = Path(__file__).resolve().parents[2] / "shared" / "real-tasks" / "dataset" / "pillow_task" / "task25"
    task = load_task(shared)
    with open_sandbox(task, "modal") as box:
        result = box.run("git rev-parse HEAD", timeout=300)
    assert result.stdout.strip() == task.base_commit


class LocalBackedSandbox:
    """Stands in for a Modal sandbox of the task's environment: the SDK surface our backend uses
    (exec, filesystem, terminate), carried out by a real local jail of the same task."""

    def __init__(self, task):
        from cooperbench.generation.sandbox.local_backend import LocalSandbox
        from cooperbench.generation.tasks.task import resolve_repo

        self.box = LocalSandbox(task, resolve_repo(task))
        self.filesystem = self

    def exec(self, *args, workdir=None, timeout=None, env=None, text=True):
        bind(modal.Sandbox.exec, self, *args, workdir=workdir, timeout=timeout, env=env, text=text)
        command = args[2] if args[:2] == ("bash", "-c") else " ".join(args)
        own = {k: v for k, v in (env or {}).items() if k not in ("PATH", "HOME")}  # a Modal image has its own PATH
        result = self.box.run(command, timeout=timeout or 60, cwd=workdir, env=own)
        return FakeProcess(-1 if result.timed_out else result.exit_code, result.stdout.encode(), result.stderr.encode())

    def make_directory(self, path: str) -> None:
        pass

    def write_bytes(self, data: bytes, path: str) -> None:
        self.box.write_file(path, data)

    def stat(self, path: str):
        try:
            self.box.read_file(path, 1)
        except (FileNotFoundError, GenerationError):
            raise modal.exception.SandboxFilesystemNotFoundError(path) from None
        return SimpleNamespace(type=SimpleNamespace(value="file"))

    def list_files(self, path: str):
        return [SimpleNamespace(name=name, type=SimpleNamespace(value="file")) for name in self.box.read_dir(path)]

    def terminate(self) -> None:
        self.box.close()


def stand_in_modal(monkeypatch, task, created: list[dict] | None = None) -> None:
    """Modal's servers stood in for: the task's environment image recorded as built in this
    workspace (the test's own), and every sandbox a real local jail of the task (each create
    checked against the SDK's signature, its arguments kept in `created`)."""
    own_workspace(monkeypatch)
    record = modal_backend.image_record(modal, task)
    record.parent.mkdir(parents=True, exist_ok=True)
    record.write_text("im-demo\n")

    def create(*args, **kwargs):
        bind(REAL_CREATE, *args, **kwargs)
        if created is not None:
            created.append(kwargs)
        return LocalBackedSandbox(task)

    monkeypatch.setattr(modal.App, "lookup", lambda name, create_if_missing=False: SimpleNamespace(app_id="ap-1"))
    monkeypatch.setattr(modal.Image, "from_id", lambda image_id: SimpleNamespace(object_id=image_id))
    monkeypatch.setattr(modal.Sandbox, "create", create)
    monkeypatch.setattr(modal.Sandbox, "list", lambda app_id=None, tags=None: [])


@pytest.mark.slow
def test_generation_fans_out_over_modal_sandboxes(monkeypatch, tmp_path, isolated_cache):
    """Attempts through the modal backend, everything of ours real up to the SDK: each attempt
    gets its sandboxes (counted below), all with the network blocked."""
    from cooperbench.generation.pipeline.attempts import generate_features
    from cooperbench.generation.schemas import AgentSettings

    task = load_task(DEMO)
    created: list[dict] = []
    stand_in_modal(monkeypatch, task, created)
    results = generate_features(task, AgentSettings.of("replay/conflicting"), backend="modal", attempts=2,
                                jobs=2, output=tmp_path)
    assert [r.success for r in results] == [True, True]
    assert all(r.usage["backend"] == "modal" and r.verdict["backend"] == "modal" for r in results)
    odd = [(kwargs.get("block_network"), getattr(kwargs.get("image"), "object_id", None)) for kwargs in created
           if not (kwargs.get("block_network") and getattr(kwargs.get("image"), "object_id", None) == "im-demo")]
    assert odd == [], odd
    # per attempt the agent; then runs shared by the agent's cooperbench-verify check (at its
    # command timeout) and the verdict (at validation.timeout), as runs are kept by what they run
    # whatever the timeout they finished within, and both attempts replay the same candidate:
    # before, after and feature, each in validation.reruns (3) orders, the base in 3 orders and its
    # self-check (the runner alone), a run per part of feature.patch left out (3 hunks); then one
    # union-merge run per conflicting pair (features 2 and 3) and those features' own runs
    assert len(created) == 2 * 1 + (3 * 3 + 3 + 1 + 3) + 2 + 2


def test_check_modal_starts_one_sandbox_and_runs_one_command(monkeypatch, isolated_cache):
    """`check-modal`'s work, against stand-in servers whose sandbox is a real local jail."""
    task = load_task(DEMO)
    stand_in_modal(monkeypatch, task)
    found = modal_backend.smoke(task, resolve_repo(task))
    assert found["ok"] and found["at_base_commit"] and found["image"] == "im-demo" and found["python"].startswith("Python 3")


def test_reaper_terminates_sandboxes_of_dead_owners(monkeypatch):
    class Listed:
        def __init__(self, owner):
            self.owner, self.terminated = owner, False

        def get_tags(self):
            return {"cooperbench": "sandbox", "owner": self.owner}

        def terminate(self):
            self.terminated = True

    import socket

    dead, alive, elsewhere = Listed(f"{socket.gethostname()}:999999"), Listed(modal_backend.owner()), Listed("other-host:1")
    monkeypatch.setattr(modal.Sandbox, "list", lambda app_id=None, tags=None: [dead, alive, elsewhere])
    modal_backend.reap(modal, SimpleNamespace(app_id="ap-reap-test"))
    assert (dead.terminated, alive.terminated, elsewhere.terminated) == (True, False, False)


def test_every_sdk_call_of_the_backend_binds_to_the_installed_sdk():
    """Each call the backend makes, with the arguments it passes, against the signatures of the
    installed SDK (pyproject's floor, modal>=1.5, is the first with all of them): an SDK that
    renames or drops one fails here, not on a user's first run."""
    import importlib

    _SandboxFilesystem = (getattr(modal.sandbox, "_SandboxFilesystem", None)  # where 1.5 keeps it; 1.6 below
                          or importlib.import_module("modal.sandbox._filesystem")._SandboxFilesystem)
    calls = [
        (modal.App.lookup, (modal_backend.APP_NAME,), {"create_if_missing": True}),
        (modal.Sandbox.create, ("sleep", "infinity"), {"app": None, "image": None, "workdir": "/", "timeout": 60,
                                                        "block_network": True, "tags": {}, **modal_backend.LIMITS}),
        (modal.Sandbox.list, (), {"app_id": "ap-1", "tags": modal_backend.TAGS}),
        (modal.Sandbox.exec, (None, "bash", "-c", "true"), {"workdir": "/", "timeout": 1, "env": {}, "text": False}),
        (modal.Sandbox.snapshot_filesystem, (None,), {"timeout": 600, "ttl": None}),
        (modal.Sandbox.terminate, (None,), {}),
        (modal.Sandbox.get_tags, (None,), {}),
        (_SandboxFilesystem.make_directory, (None, "/x"), {}),
        (_SandboxFilesystem.write_bytes, (None, b"", "/x"), {}),
        (_SandboxFilesystem.stat, (None, "/x"), {}),
        (_SandboxFilesystem.list_files, (None, "/x"), {}),
        (modal.Image.from_registry, ("image:tag",), {}),
        (modal.Image.from_id, (modal.Image, "im-1"), {}),  # a classmethod whose signature shows `cls`
        (modal.Image.debian_slim, (), {"python_version": "3.11"}),
        (modal.Image.apt_install, (None, "git", "ca-certificates"), {}),
        (modal.Image.add_local_dir, (None, "repo", "/workspace/repo"), {"copy": True}),
        (modal.Image.entrypoint, (None, []), {}),
        (modal.Image.build, (None, None), {}),
    ]
    for call, args, kwargs in calls:
        inspect.signature(call).bind(*args, **kwargs)
    for name in ("AuthError", "Error", "NotFoundError", "SandboxFilesystemError"):
        assert issubclass(getattr(modal.exception, name), Exception)


def test_timeouts_are_the_sdks_signal_and_modal_failures_after_the_start_are_retried(fake_modal, isolated_cache):
    from cooperbench.generation.errors import InfrastructureError

    _, sandboxes = fake_modal
    with open_sandbox(load_task(DEMO), "modal") as box:
        sandbox = sandboxes[-1]
        sandbox.next_code = -1  # what wait() gives once the exec passed its deadline
        result = box.run("sleep 100", timeout=2.5)
        assert result.timed_out and sandbox.execs[-1][1]["timeout"] == 3  # rounded up, never down
        sandbox.next_code = 0
        long = "echo " + "x" * 40_000
        assert box.run(long, timeout=30).ok  # past the SDK's cap on an argument: through a file
        assert sandbox.execs[-1][0] == ("bash", "-c", f"bash {modal_backend.COMMAND_FILE}")
        assert sandbox.filesystem.files[modal_backend.COMMAND_FILE] == long.encode()

        def ended(*args, **kwargs):
            raise modal.exception.SandboxTerminatedError("the sandbox reached its lifetime")

        sandbox.exec = ended
        with pytest.raises(InfrastructureError, match="SandboxTerminatedError: the sandbox reached its lifetime"):
            box.run("true", timeout=30)


def test_built_image_records_are_kept_apart_per_workspace(monkeypatch):
    """An image id built under one workspace is unknown under another: switching credentials or
    environment must not reuse the record."""
    monkeypatch.setenv("MODAL_TOKEN_ID", "ak-one")
    first = modal_backend.workspace(modal)
    monkeypatch.setenv("MODAL_TOKEN_ID", "ak-two")
    second = modal_backend.workspace(modal)
    monkeypatch.setenv("MODAL_ENVIRONMENT", "staging")
    assert len({first, second, modal_backend.workspace(modal)}) == 3
