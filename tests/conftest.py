"""Shared fixtures: the shipped demo task, an isolated cache, real git repos and the real CLI;
and the test tiers: `pytest` runs the quick tier, `pytest --full` everything (CI)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from cooperbench.generation.core.layout import PARAMS_VARIABLE
from cooperbench.generation.util.environment import prepare_environment

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "dataset" / "miniconf_task" / "task1"


TIERS = {  # marker -> what its tests need; the quick tier leaves them out, `--full` runs them
    "docker": "a Docker daemon (the docker backend)",
    "real_tasks": "the real CooperBench tasks or histories in ../shared",
    "dvc": "real `dvc repro` runs of the pipeline",
    "slow": "more than a few seconds: environments built, many sandboxes, whole agent runs",
}
FIXTURE_TIERS = {"daemon": "docker", "real_tasks": "real_tasks", "real_repos": "real_tasks", "real_history": "real_tasks"}


def pytest_addoption(parser):
    parser.addoption("--full", action="store_true",
                     help=f"the full suite: the quick tier and the tests marked {', '.join(TIERS)} (CI runs it)")


MEMORY_DISK = Path("/dev/shm")
MEMORY_DISK_NEEDS = 10 * 2**30  # free on the tmpfs, and as much again of the machine's memory left over


@pytest.hookimpl(tryfirst=True)  # before pytest's tmpdir plugin reads --basetemp
def pytest_configure(config):
    for marker, needs in TIERS.items():
        config.addinivalue_line("markers", f"{marker}: needs {needs}; left out of the quick tier")
    prepare_environment()  # as every entry point does as it starts (util/environment.py)
    if config.option.basetemp is None and not os.environ.get("PYTEST_XDIST_WORKER") and memory_disk_has_room():
        config.option.basetemp = config.stash[MEMORY_BASETEMP] = tempfile.mkdtemp(prefix="cooperbench-tests-", dir=MEMORY_DISK)


MEMORY_BASETEMP = pytest.StashKey[str]()


def memory_disk_has_room() -> bool:
    """Whether the session's folders (repositories, environments, sandboxes, DVC projects) may live
    in memory: a virtual machine's disk writes a jest task's 55,000-file node_modules in 43 s, a
    tmpfs in 3 s (measured here), and the suite writes many. Only with room to spare; `--basetemp`
    chooses a folder instead."""
    try:
        mounted = any(line.split()[1:3] == [str(MEMORY_DISK), "tmpfs"] for line in Path("/proc/mounts").read_text().splitlines())
        available = next(int(line.split()[1]) * 1024 for line in Path("/proc/meminfo").read_text().splitlines()
                         if line.startswith("MemAvailable:"))
        return mounted and shutil.disk_usage(MEMORY_DISK).free >= MEMORY_DISK_NEEDS and available >= 2 * MEMORY_DISK_NEEDS
    except (OSError, StopIteration, ValueError):
        return False


def pytest_unconfigure(config):
    """The memory the session's folders held, given back (pytest keeps no numbered copies of a
    --basetemp)."""
    if MEMORY_BASETEMP in config.stash:
        shutil.rmtree(config.stash[MEMORY_BASETEMP], ignore_errors=True)


def pytest_collection_modifyitems(config, items):
    """Tests that use a tier's fixture carry its marker; without --full (or -m) they are deselected."""
    for item in items:
        for fixture, marker in FIXTURE_TIERS.items():
            if fixture in getattr(item, "fixturenames", ()):
                item.add_marker(marker)
        callspec = getattr(item, "callspec", None)
        if callspec and "docker" in callspec.params.values():  # a test run on each backend, here docker's
            item.add_marker("docker")
    if config.getoption("--full") or config.getoption("markexpr"):
        return
    later = [item for item in items if any(item.get_closest_marker(marker) for marker in TIERS)]
    if later:
        config.hook.pytest_deselected(items=later)
        items[:] = [item for item in items if item not in set(later)]


def pytest_report_header(config):
    if not (config.getoption("--full") or config.getoption("markexpr")):
        return f"quick tier: the tests marked {', '.join(TIERS)} are deselected (pytest --full runs everything)"


@pytest.fixture(scope="session", autouse=True)
def isolated_cache(tmp_path_factory):
    """The session's own cache of materialized repositories and environments, set before any
    fixture of any scope builds one (never the user's ~/.cache/cooperbench)."""
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):  # one cache for all workers: builds are locked across processes
        base = base.parent
    cache = base / "cache"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("COOPERBENCH_CACHE", str(cache))
        # the CLI and the API grade under the schema's defaults, not this checkout's params.yaml,
        # unless a test names a params file (--params, or this variable of its own)
        patch.setenv(PARAMS_VARIABLE, str(base / "no-params.yaml"))
        yield cache


@pytest.fixture(scope="session")
def project(tmp_path_factory) -> Path:
    """This repository copied and built by one full `dvc repro` (tests/dvcproject.py), built once
    per session: its modules (test_pipeline.py, test_docs_examples.py) share xdist group
    "dvc-project", so they run on one worker, and each test restores the copy as it ends. A module
    may name its own `project` instead (test_validity.py does)."""
    from dvcproject import built_project  # it imports this module: loaded only once both are

    return built_project(tmp_path_factory)


@pytest.fixture
def demo_copy(tmp_path) -> Path:
    """A writable copy of the demo task, to break in tests."""
    target = tmp_path / "dataset" / "miniconf_task" / "task1"
    shutil.copytree(DEMO, target)
    return target


def git(cwd: Path, *args: str) -> str:
    env = {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True).stdout.decode()


def write_files(root: Path, files: dict[str, str | bytes | None]) -> None:
    for name, content in files.items():
        path = root / name
        if content is None:
            path.unlink()
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_bytes(content.encode())


@pytest.fixture
def make_diff(tmp_path):
    """Real git: commit `before`, apply `after` (None deletes), return `git diff` of the change."""

    def make(before: dict, after: dict, renames: dict[str, str] | None = None) -> tuple[Path, str]:
        repo = tmp_path / "work"
        repo.mkdir()
        git(repo, "init", "-q")
        write_files(repo, before)
        git(repo, "add", "-A")
        git(repo, "commit", "-qm", "base")
        for old, new in (renames or {}).items():
            git(repo, "mv", old, new)
        write_files(repo, after)
        git(repo, "add", "-A")
        return repo, git(repo, "diff", "--cached", "-M", "HEAD")

    return make


def default_sigint() -> None:
    """A child's preexec: Ctrl-C as a terminal delivers it, whatever this process inherited (a
    runner started in the background, `nohup cmd &`, ignores SIGINT, and so would the child)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def run_cli(*args: str, cwd: Path = ROOT, drop: tuple[str, ...] = (), **env: str) -> subprocess.CompletedProcess[str]:
    """The real CLI in a subprocess, as a user runs it; `drop` removes variables from its env."""
    environment = {k: v for k, v in {**os.environ, **env}.items() if k not in drop}
    return subprocess.run(
        [sys.executable, "-m", "cooperbench.generation", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=environment,
    )


def assert_one_line_error(proc: subprocess.CompletedProcess[str], *fragments: str) -> None:
    """A user error: non-zero exit, one `error:` line naming the problem (after any progress
    lines), no traceback."""
    assert proc.returncode != 0, proc.stdout
    lines = proc.stderr.strip().splitlines()
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1 and lines[-1] == errors[0] and "Traceback" not in proc.stderr, proc.stderr
    for fragment in fragments:
        assert fragment in errors[0], errors[0]


@pytest.fixture(scope="session")
def daemon():
    """A Docker SDK client of a daemon that answers; skipped (failed under
    COOPERBENCH_REQUIRE_DOCKER=1) when none does."""
    try:
        import docker

        client = docker.from_env()
        client.ping()
    except Exception as exc:
        if os.environ.get("COOPERBENCH_REQUIRE_DOCKER") == "1":
            pytest.fail(f"COOPERBENCH_REQUIRE_DOCKER=1 but no Docker daemon answers: {exc}")
        pytest.skip("no Docker daemon answers (run scripts/docker-setup.sh to test the docker backend)")
    return client


def sandboxes_at_once(backend: str, *, threads: int = 4, rounds: int = 2) -> None:
    """Open, use and close sandboxes of the demo task from `threads` threads of this process and
    from one other process at the same time: each opening reaps what dead owners left (listing
    every sandbox) while the others remove their own. Fails on any error of either process."""
    from concurrent.futures import ThreadPoolExecutor

    loop = (f"from cooperbench.generation import load_task\n"
            f"from cooperbench.generation.tasks.task import resolve_repo\n"
            f"from cooperbench.generation.sandbox.backends import open_sandbox\n"
            f"task = load_task({str(DEMO)!r})\n"
            f"for _ in range({rounds * threads}):\n"
            f"    with open_sandbox(task, {backend!r}, resolve_repo(task)) as box:\n"
            f"        assert box.run('true', timeout=60).ok\n")
    other = subprocess.Popen([sys.executable, "-c", loop], stderr=subprocess.PIPE, text=True)
    from cooperbench.generation import load_task
    from cooperbench.generation.sandbox.backends import open_sandbox
    from cooperbench.generation.tasks.task import resolve_repo

    task = load_task(DEMO)
    git_dir = resolve_repo(task)

    def one(_: int) -> None:
        for _ in range(rounds):
            with open_sandbox(task, backend, git_dir) as box:
                assert box.run("true", timeout=60).ok

    try:
        with ThreadPoolExecutor(max_workers=threads) as pool:
            list(pool.map(one, range(threads)))
    finally:
        _, errors = other.communicate()
    assert other.returncode == 0, errors


REAL_TASKS = Path(os.environ.get("COOPERBENCH_REAL_TASKS") or ROOT.parent / "shared" / "real-tasks")


HISTORY = Path(os.environ.get("COOPERBENCH_HISTORY") or ROOT.parent / "shared" / "history")


def shared(found: Path, folder: Path, what: str) -> Path:
    """`folder` of ../shared when `found` is there; else the test is skipped, saying so, unless
    COOPERBENCH_REQUIRE_REAL_TASKS=1 (CI sets it): then it fails."""
    if not found.exists():
        message = f"{folder} is absent: the {what} tests need it"
        if os.environ.get("COOPERBENCH_REQUIRE_REAL_TASKS") == "1":
            pytest.fail(f"COOPERBENCH_REQUIRE_REAL_TASKS=1 but {message}")
        pytest.skip(message)
    return folder


@pytest.fixture(scope="session")
def real_tasks() -> Path:
    """The real CooperBench tasks beside this repository (../shared/real-tasks)."""
    return shared(REAL_TASKS / "dataset", REAL_TASKS, "real-task")


@pytest.fixture(scope="session")
def real_history() -> Path:
    """Whole histories of public repositories as git bundles (../shared/history)."""
    return shared(HISTORY / "humanize.bundle", HISTORY, "real-history")


@pytest.fixture(scope="session")
def real_repos(real_tasks, tmp_path_factory) -> Path:
    """Every real task's repository unpacked at its base commit, under one folder."""
    folder = tmp_path_factory.mktemp("real-repos")
    for tarball in sorted((real_tasks / "repos").glob("*.tar.gz")):
        target = folder / tarball.name.removesuffix(".tar.gz")
        target.mkdir()
        subprocess.run(["tar", "-xzf", str(tarball), "-C", str(target)], check=True)
        git(target / "repo", "reset", "-q", "--hard")
    return folder
