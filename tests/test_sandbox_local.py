"""The local backend for real: bubblewrap jails on this machine, and what a hostile command in
one can and cannot do."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest
from conftest import DEMO, ROOT, sandboxes_at_once

from cooperbench.generation import GenerationError, load_task
from cooperbench.generation.sandbox import overlay
from cooperbench.generation.sandbox.backends import open_sandbox
from cooperbench.generation.sandbox.base import BoundedBuffer, network_env
from cooperbench.generation.sandbox.limits import SANDBOX_MEMORY, Limits, MemoryBudget, machine_memory
from cooperbench.generation.sandbox.local_backend import LocalSandbox, reap_sandboxes
from cooperbench.generation.tasks.task import resolve_repo
from cooperbench.generation.util.owners import scratch_dir


@pytest.fixture(scope="module")
def sandbox():
    task = load_task(DEMO)
    with open_sandbox(task, "local", resolve_repo(task)) as box:
        yield box


def test_repo_at_base_commit_as_uid_1000(sandbox):
    result = sandbox.run("pwd && git rev-parse HEAD && git status --porcelain && id -u", timeout=30)
    assert result.ok
    assert result.stdout.split() == ["/workspace/repo", load_task(DEMO).base_commit, "1000"]


def test_task_dependencies_are_installed(sandbox):
    result = sandbox.run("python -m pytest -q -p no:cacheprovider tests", timeout=60)
    assert result.ok, result.stdout
    assert "25 passed" in result.stdout


def test_exit_code_and_streams(sandbox):
    result = sandbox.run("echo out; echo err >&2; exit 3", timeout=10)
    assert (result.exit_code, result.stdout, result.stderr, result.timed_out) == (3, "out\n", "err\n", False)


def test_time_limit_kills_the_command_and_what_it_started(sandbox):
    result = sandbox.run("sleep 300 & sleep 300", timeout=1)
    assert result.timed_out and not result.ok
    assert "sleep" not in sandbox.run("ps -eo comm", timeout=10).stdout


def test_background_processes_die_with_the_command(sandbox):
    sandbox.run("nohup sleep 300 >/dev/null 2>&1 &", timeout=10)
    assert "sleep" not in sandbox.run("ps -eo comm", timeout=10).stdout


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


def test_no_variable_of_the_caller_reaches_the_sandbox(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-should-not-leak")
    monkeypatch.setenv("DEEPSEEK_KEY", "should-not-leak")
    monkeypatch.setenv("MY_SERVICE_PASSWD", "should-not-leak")
    monkeypatch.setenv("HARMLESS_LOOKING", "should-not-leak")
    task = load_task(DEMO)
    with open_sandbox(task, "local", resolve_repo(task)) as box:
        result = box.run("env; cat /proc/1/environ 2>/dev/null | tr '\\0' '\\n'", timeout=10)
    assert "should-not-leak" not in result.stdout


def test_the_install_step_gets_an_allow_list_only():
    source = {"PATH": "/bin", "HTTPS_PROXY": "http://proxy:3128", "SSL_CERT_FILE": "/etc/ssl/certs/ca.pem",
              "DEEPSEEK_KEY": "x", "MY_SERVICE_PASSWD": "x", "PIP_INDEX_URL": "https://pypi.example/simple"}
    assert network_env(source) == {"HTTPS_PROXY": "http://proxy:3128", "SSL_CERT_FILE": "/etc/ssl/certs/ca.pem",
                                   "PIP_INDEX_URL": "https://pypi.example/simple"}


def test_host_files_are_out_of_sight(sandbox):
    assert sandbox.run(f"test -e {ROOT}/README.md", timeout=10).exit_code == 1
    assert sandbox.run("test -e /home", timeout=10).exit_code == 1
    # of the host's home folders only toolchains' program folders show: no configuration, no keys
    assert set(sandbox.run("ls -A /root", timeout=10).stdout.split()) <= {".cargo", ".rustup", ".pyenv", ".nvm"}
    assert set(sandbox.run("ls -A /root/.cargo 2>/dev/null", timeout=10).stdout.split()) <= {"bin"}
    etc = sandbox.run("ls /etc", timeout=10).stdout.split()
    assert "shadow" not in etc and "ssh" not in etc and "passwd" in etc
    assert sandbox.run("cat /etc/shadow /etc/ssl/private/* 2>&1 | head -1", timeout=10).stdout.count("No such file") >= 1
    assert sandbox.run("test -s /etc/ssl/certs/ca-certificates.crt", timeout=10).ok  # the CA bundle is there


def test_system_and_environment_are_read_only(sandbox):
    for target in ("/usr/bin/evil", "/workspace/venv/evil", "/opt/cooperbench/bin/evil", "/patches/evil"):
        assert sandbox.run(f"touch {target}", timeout=10).exit_code != 0, target


def test_the_sandbox_shares_no_inode_with_the_host_repository(sandbox, isolated_cache):
    """A jailed process that rewrites every git object it can see changes nothing outside."""
    task = load_task(DEMO)
    git_dir = resolve_repo(task)
    host_inodes = {os.stat(p).st_ino for p in git_dir.rglob("*") if p.is_file()}
    host_inodes |= {os.stat(p).st_ino for p in (isolated_cache / "checkouts").rglob("*") if p.is_file()}
    inside = sandbox.dirs["/workspace/repo"]
    assert not host_inodes & {os.stat(p).st_ino for p in inside.rglob("*") if p.is_file()}
    template = sandbox.env_dir / "template"  # what the sandbox starts from: copied, or the overlay's lower layer
    before = [subprocess.run(["git", f"--git-dir={g}", "fsck", "--strict"], capture_output=True).returncode
              for g in (git_dir, template / ".git")]
    sandbox.run("find .git/objects -type f -exec chmod u+w {} + -exec sh -c 'echo junk > \"$1\"' _ {} \\;", timeout=60)
    after = [subprocess.run(["git", f"--git-dir={g}", "fsck", "--strict"], capture_output=True).returncode
             for g in (git_dir, template / ".git")]
    assert before == after == [0, 0]


def test_reads_are_bounded_and_only_of_regular_files(sandbox):
    assert sandbox.run("truncate -s 20G /tmp/huge", timeout=10).exit_code != 0  # past the file size limit
    sandbox.run("mkfifo /tmp/pipe && truncate -s 3G /tmp/sparse && ln -sf /etc/hostname /tmp/link", timeout=10)
    started = time.monotonic()
    with pytest.raises(FileNotFoundError):
        sandbox.read_file("/tmp/pipe")  # a FIFO would block a plain read forever
    assert time.monotonic() - started < 60
    assert len(sandbox.read_file("/tmp/sparse", limit=1024)) == 1024
    with pytest.raises(GenerationError, match="outside the sandbox"):
        sandbox.read_file("/tmp/link")  # resolves outside the sandbox's folders
    for bad in ("../../etc/passwd", "/etc/passwd", "/workspace/repo/../../etc/passwd"):
        with pytest.raises(GenerationError, match="outside the sandbox"):
            sandbox.read_file(bad)


def test_output_is_capped_while_it_is_read(sandbox):
    result = sandbox.run("head -c 300000000 /dev/zero | tr '\\0' x", timeout=120)
    assert result.ok
    assert len(result.stdout) < 9 * 1024 * 1024 and "bytes cut" in result.stdout


def test_bounded_buffer_keeps_head_and_tail():
    buffer = BoundedBuffer(limit=100)
    for _ in range(100):
        buffer.add(b"0123456789")
    text = buffer.text()
    assert text.startswith("0123456789") and text.endswith("0123456789") and "900 bytes cut" in text


def test_file_size_and_disk_limits():
    task = load_task(DEMO)
    limits = Limits(file_size=64 * 1024 * 1024, disk=256 * 1024 * 1024)
    with LocalSandbox(task, resolve_repo(task), limits=limits) as box:
        big = box.run("head -c 100000000 /dev/zero > /tmp/big", timeout=60)
        assert big.exit_code != 0  # RLIMIT_FSIZE: SIGXFSZ
        fill = box.run("for i in 1 2 3 4 5 6; do head -c 60000000 /dev/zero > /tmp/f$i; done", timeout=60)
        assert fill.limit and "disk limit" in fill.limit
        with pytest.raises(GenerationError, match="closed"):
            box.run("true", timeout=10)


def test_the_disk_limit_holds_while_a_command_runs():
    """A writer is stopped near the limit, not after it has filled the host's disk: this one would
    write 1 GB over at least 10 s; the sandbox allows 50 MB and stops it within about a second."""
    task = load_task(DEMO)
    with LocalSandbox(task, resolve_repo(task), limits=Limits(disk=50 * 1024 * 1024)) as box:
        root = box.root
        result = box.run("for i in $(seq 200); do head -c 5000000 /dev/zero > /tmp/f$i; sleep 0.05; done; echo finished",
                         timeout=600)
        assert result.limit and "disk limit" in result.limit and "finished" not in result.stdout
        assert box.closed_by == result.limit and not root.exists()


def test_checks_of_a_running_command_cost_a_bounded_share_and_are_never_far_apart():
    """A second apart while a check is cheap; apart by twenty times its cost when it is not (a
    walk over a jest run's 55,000-file node_modules), yet never more than ten seconds apart."""
    from cooperbench.generation.sandbox.jail import WATCH_INTERVAL, WATCH_INTERVAL_MAX, WATCH_SHARE, watch_wait

    assert watch_wait(0.001) == WATCH_INTERVAL == 1.0
    assert watch_wait(0.25) == 0.25 / WATCH_SHARE == 5.0
    assert watch_wait(3.0) == WATCH_INTERVAL_MAX == 10.0


def test_a_sandbox_closed_by_a_limit_ends_the_agent_run_as_its_result():
    from minisweagent.exceptions import LimitsExceeded

    from cooperbench.generation.agent.loop import SANDBOX_LIMIT, SandboxEnvironment

    task = load_task(DEMO)
    with LocalSandbox(task, resolve_repo(task), limits=Limits(disk=50 * 1024 * 1024)) as box:
        with pytest.raises(LimitsExceeded) as ended:
            SandboxEnvironment(box, 60).execute({"command": "head -c 80000000 /dev/zero > /tmp/fill"})
    assert ended.value.messages[0]["extra"]["exit_status"] == SANDBOX_LIMIT


def test_the_sandboxes_of_a_process_fit_the_machine_together():
    """Memory limits are reserved from one budget, three quarters of the machine: a sandbox that
    does not fit waits for one to close."""
    assert SANDBOX_MEMORY.total <= machine_memory() and Limits().memory <= SANDBOX_MEMORY.total
    budget, stop = MemoryBudget(10), threading.Event()
    assert budget.reserve(6, stop) == 6
    waiting = threading.Thread(target=budget.reserve, args=(6, stop))
    waiting.start()
    waiting.join(timeout=0.5)
    assert waiting.is_alive() and budget.free == 4  # it did not fit: it waits
    budget.release(6)
    waiting.join(timeout=30)
    assert not waiting.is_alive() and budget.free == 4
    stop.set()
    with pytest.raises(KeyboardInterrupt):
        budget.reserve(8, stop)  # Ctrl-C ends a wait


def test_no_host_path_shows_in_the_jail(sandbox, isolated_cache):
    """Neither the environment nor the process list of the jail names a host folder."""
    result = sandbox.run("cat /proc/1/environ /proc/1/cmdline /proc/self/environ | tr '\\0' '\\n'; env", timeout=30)
    assert "bwrap" in result.stdout  # pid 1's command line was read
    for host in (str(ROOT), str(Path.cwd()), str(isolated_cache)):
        assert host not in result.stdout


@pytest.mark.slow
def test_process_count_is_limited_where_cgroups_allow(sandbox):
    if sandbox.versions()["cgroup_limits"] != "yes":
        pytest.skip("this machine lets us make no cgroup: the process limit cannot be set")
    # Python forks until refused and then reaps its children (bash retries a refused fork for 15 s)
    result = sandbox.run("python - <<'EOF'\n" + FORK_UNTIL_REFUSED + "EOF", timeout=60)
    assert "fork refused after" in result.stdout and "Resource temporarily unavailable" in result.stdout, result.stdout


FORK_UNTIL_REFUSED = """import os, signal, time
children = []
try:
    while len(children) < 5000:
        pid = os.fork()
        if pid == 0:
            time.sleep(30)
            os._exit(0)
        children.append(pid)
    print("5000 processes, no limit")
except OSError as exc:
    print(f"fork refused after {len(children)}: {exc}")
finally:
    for pid in children:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
"""


def test_files_in_and_out(sandbox):
    sandbox.write_file("notes/a.txt", b"hello")
    assert sandbox.run("cat notes/a.txt", timeout=10).stdout == "hello"
    sandbox.run("echo made > /tmp/out.txt", timeout=10)
    assert sandbox.read_file("/tmp/out.txt") == b"made\n"


def test_close_removes_everything_even_on_error(isolated_cache):
    task = load_task(DEMO)
    with pytest.raises(RuntimeError):
        with open_sandbox(task, "local", resolve_repo(task)) as box:
            root = box.root
            box.run("true", timeout=10)
            raise RuntimeError("boom")
    assert not root.exists()


def test_folders_of_a_killed_owner_are_reaped(isolated_cache, tmp_path):
    """A process killed with SIGKILL cannot clean up; the next sandbox removes what it left."""
    script = (
        "import os, sys; from cooperbench.generation import load_task;"
        "from cooperbench.generation.tasks.task import resolve_repo;"
        "from cooperbench.generation.sandbox.backends import open_sandbox;"
        f"t = load_task({str(DEMO)!r}); box = open_sandbox(t, 'local', resolve_repo(t));"
        "print(box.root, flush=True); os.kill(os.getpid(), 9)"
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env={**os.environ, "COOPERBENCH_CACHE": str(isolated_cache)})
    left = proc.stdout.strip()
    assert left and os.path.isdir(left)
    reap_sandboxes(isolated_cache / "sandboxes")
    assert not os.path.exists(left)
    assert not overlay.mounted_under(Path(left))  # its repository's overlay, where it had one, is unmounted


def test_many_sandboxes_at_once_never_trip_over_each_others_cleanup(isolated_cache):
    root = isolated_cache / "sandboxes"
    before = set(root.glob(f"{os.getpid()}-*"))  # sandboxes other tests' fixtures hold open
    sandboxes_at_once("local")
    assert not set(root.glob(f"{os.getpid()}-*")) - before


def test_scratch_folders_of_a_killed_owner_are_reaped(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True).stdout.strip()
    left, mine = tmp_path / f"cb-merge-{dead}-x", tmp_path / f"cb-merge-{os.getpid()}-y"
    left.mkdir()
    mine.mkdir()
    with scratch_dir("merge") as folder:
        assert Path(folder).parent == tmp_path
    assert not left.exists() and mine.exists()


@pytest.mark.slow
def test_environment_builds_share_one_package_cache_per_repository(demo_copy, isolated_cache):
    """pip's and uv's caches live beside the environments, one per repository, not inside each:
    what the first task of a repository downloaded or built, the second finds (here a marker its
    own build step requires)."""
    second = demo_copy.parent / "task2"
    shutil.copytree(demo_copy, second)
    for folder, step in ((demo_copy, 'mkdir -p "$PIP_CACHE_DIR" && echo built-once > "$PIP_CACHE_DIR/marker"'),
                         (second, 'grep -q built-once "$PIP_CACHE_DIR/marker"')):
        dockerfile = folder / "Dockerfile"
        dockerfile.write_text(dockerfile.read_text().replace("\nRUN ", f"\nRUN {step}\nRUN ", 1))
    for folder in (demo_copy, second):
        task = load_task(folder)
        with LocalSandbox(task, resolve_repo(task)) as box:
            assert not (box.env_dir / "workspace" / "home" / ".cache" / "pip").exists()
    assert (isolated_cache / "packages" / "miniconf_task" / "pip" / "marker").read_text() == "built-once\n"
