"""A task's environment: what its Dockerfile and its runner.sh install, built once, each step
checked, and cached per task only when every step succeeded.

The build runs in a sandbox of the chosen backend with the network on:
  1. the Dockerfile's RUN steps in order: the one that fetches the repository is skipped (the
     sandbox has it at the base commit); system-package and image-layout steps run only in a
     container (`runs_system_steps`); every other step must exit 0;
  2. a warm-up run of the task's own runner.sh on the bare base commit (a tests patch that only
     adds an empty file), with the install shims in record mode: each install the runner makes
     runs for real and is remembered, with the files it writes into the source tree; one a
     Dockerfile step already made (the same command in the same folder) is served, as test runs
     serve it, instead of running twice.
Test runs then run the same runner.sh with the network off; the shims serve the remembered
installs from the environment (see support/shim.sh), so the runner's own install lines, test
command and test selection all stay as the benchmark runs them.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import re
import sys
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Callable, Iterator, Protocol

from cooperbench.generation.core.cache import cache_root
from cooperbench.generation.core.contract import (
    NPM_PREFIX,
    PACKAGE_CACHE_DIR,
    PATCHES_DIR,
    PLUGIN_DIR,
    REPO_DIR,
    REPORTS_DIR,
    RUNNER_PATH,
    SHIM_DIR,
    STATE_DIR,
    VERIFY_COMMAND,
    VERIFY_REQUEST,
    CommandResult,
)
from cooperbench.generation.errors import GenerationError
from cooperbench.generation.tasks.dockerfile import (
    INSTALL,
    LAYOUT,
    REPOSITORY,
    SYSTEM,
    Step,
    expand_from_image,
    parse_dockerfile,
)
from cooperbench.generation.tasks.task import Task

SHIM_NAMES = ("pip", "pip3", "python", "python3", "pytest", "py.test", "uv", "npm", "pnpm", "yarn", "npx", "go", "cargo")
BASE_RUN_PATCH = (
    "diff --git a/.cooperbench-base-run b/.cooperbench-base-run\n"
    "new file mode 100644\n"
    "index 0000000..e69de29\n"
)
STEP_TIMEOUT = 1800.0  # seconds, per build step
LAYOUT_VERSION = 3  # bump when the way environments are built changes


class EnvironmentFailure(GenerationError):
    """The task's environment cannot be built or run here: not the candidate's fault."""


@dataclass(frozen=True)
class EnvPlan:
    """Everything an environment is built from; its key names the cached result."""

    task: str
    base_commit: str
    base_image: str | None
    steps: tuple[Step, ...]
    runner: str

    def key(self, backend: str, extra: tuple = ()) -> str:
        spec = [LAYOUT_VERSION, backend, self.task, self.base_commit, self.base_image, self.runner,
                [(s.line, s.command, s.workdir, s.env, s.kind) for s in self.steps], support_digest(), list(extra)]
        return hashlib.sha256(json.dumps(spec).encode()).hexdigest()[:16]


def plan_for(task: Task) -> EnvPlan:
    if task.runner is None:
        raise GenerationError(f"{task.path}: no runner.sh (nor `tests:` in task.yaml): nothing says how its tests run")
    dockerfile = parse_dockerfile(task.path / "Dockerfile")
    return EnvPlan(task.name, task.base_commit, dockerfile.base_image, dockerfile.steps, task.runner)


# ---------------------------------------------------------------- support files


def support_files() -> dict[str, tuple[bytes, int]]:
    """Relative path -> (content, mode) of what goes to SUPPORT_DIR: one shim under every name."""
    root = files("cooperbench.generation.sandbox").joinpath("support")
    shim = root.joinpath("shim.sh").read_bytes()
    entries = {f"bin/{name}": (shim, 0o755) for name in SHIM_NAMES}
    # it only asks; the agent's environment answers (agent/verify.py)
    entries[f"bin/{VERIFY_COMMAND}"] = (f'#!/bin/sh\necho "{VERIFY_REQUEST} $*"\n'.encode(), 0o755)
    for module in ("cooperbench_pytest.py", "cooperbench_unittest.py", "cooperbench_guard.py", "sitecustomize.py"):
        entries[f"python/{module}"] = (root.joinpath(module).read_bytes(), 0o644)
    return entries


def support_digest() -> str:
    digest = hashlib.sha256()
    for name, (data, mode) in sorted(support_files().items()):
        digest.update(f"{name}:{mode}:".encode() + hashlib.sha256(data).digest())
    return digest.hexdigest()[:16]


# ---------------------------------------------------------------- environment variables


def base_env(path_tail: str, home: str) -> dict[str, str]:
    """What every command in a sandbox sees, built from nothing: no variable of the caller's."""
    return {
        "PATH": f"{SHIM_DIR}:{NPM_PREFIX}/bin:{path_tail}",
        "HOME": home,
        "NPM_CONFIG_PREFIX": NPM_PREFIX,  # `npm install -g` lands in the environment
        "npm_config_cache": "/workspace/home/.npm",  # the build's package cache, for npx at test time
        # today's pnpm fails an install whose dependencies have build scripts it was not told to
        # run; the pnpm of the dataset's images warned and went on, as this makes it do
        "pnpm_config_strict_dep_builds": "false",
        # test tools that fetch their own browsers or apps from outside the package registries
        # (which is all a sandbox build may reach): skipped; a runner that needs them says so
        "CYPRESS_INSTALL_BINARY": "0",
        "PUPPETEER_SKIP_DOWNLOAD": "1",
        "PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD": "1",
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "TERM": "dumb",
        "PAGER": "cat",
        "GIT_PAGER": "cat",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "CB_SHIM_DIR": SHIM_DIR,
        "CB_ENV_STATE": STATE_DIR,
        "CB_REPO": REPO_DIR,
    }


def package_cache(task: Task) -> Path:
    """The host folder every environment build of the task's repository shares as its pip and uv
    cache: what tasks of one repository have in common (the same packages, wheels built from
    source once) is downloaded and built once, and no environment keeps a cache of its own."""
    folder = cache_root() / "packages" / task.repo_name
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def build_env() -> dict[str, str]:
    """Added for environment builds: the shared package caches (see `package_cache`)."""
    return {"PIP_CACHE_DIR": f"{PACKAGE_CACHE_DIR}/pip", "UV_CACHE_DIR": f"{PACKAGE_CACHE_DIR}/uv"}


def plain_env() -> dict[str, str]:
    """Added for every test run: installs served from the environment, nothing else of ours. The
    plain run of the self-check (grading/baseline.py) runs the task's runner.sh with this alone."""
    return {"CB_SHIM_MODE": "serve", "CARGO_NET_OFFLINE": "true", "npm_config_prefer_offline": "true", "CI": "true"}


def grading_env(order: int = 0) -> dict[str, str]:
    """Added for graded test runs: a structured report from every runner kind without editing
    the task's script (see reports.py); `order`, a rerun's seed, shuffles pytest's tests."""
    return {
        **({"COOPERBENCH_ORDER": str(order)} if order else {}),
        **plain_env(),
        "COOPERBENCH_REPORTS": REPORTS_DIR,
        "PYTHONPATH": PLUGIN_DIR,
        "CB_PLUGIN_DIR": PLUGIN_DIR,  # the shims put it back on a PYTHONPATH the runner sets
        "COOPERBENCH_PYTEST_ARGS": "--continue-on-collection-errors",  # put before the runner's PYTEST_ADDOPTS
        "GOFLAGS": "-json",
    }


# ---------------------------------------------------------------- the build


class Builder(Protocol):
    """What the build needs of a backend's sandbox (network on, environment writable)."""

    env: dict[str, str]  # what every command in it sees: a Dockerfile's `${VAR}` comes from here

    def run(self, command: str, *, timeout: float, cwd: str | None = None,
            env: dict[str, str] | None = None) -> CommandResult: ...

    def write_file(self, path: str, data: bytes) -> None: ...

    def read_file(self, path: str, limit: int) -> bytes: ...


def finish_command(owner: str | None = None) -> str:
    """What ends every environment build before it is saved: the repository back at the base
    commit (the overlay of files installs wrote into it laid on top), no patch or report left,
    and, where runs are not root, everything a run writes owned by `owner` ("uid:gid")."""
    command = (f"cd {REPO_DIR} && git reset -q --hard && git clean -qfdx"
               f" && if [ -d {STATE_DIR}/overlay ]; then cp -a {STATE_DIR}/overlay/. {REPO_DIR}/; fi"
               f" && rm -rf {PATCHES_DIR}/* {REPORTS_DIR}/*")
    return command + (f" && chown -R {owner} {REPO_DIR} {PATCHES_DIR} {REPORTS_DIR} /tmp/home" if owner else "")


def build(builder: Builder, plan: EnvPlan, *, runs_system_steps: bool, say: Callable[[str], None]) -> list[dict]:
    """Run the plan's steps in `builder`; returns a record per step. Any failing step raises
    EnvironmentFailure naming it, so nothing half-built is ever cached."""
    record = []
    era = packages_as_of(builder)
    runnable = [s for s in plan.steps if s.kind == INSTALL or (runs_system_steps and s.kind in (SYSTEM, LAYOUT))]
    for step in plan.steps:
        if step not in runnable:
            why = {REPOSITORY: "the sandbox has the repository at the base commit",
                   SYSTEM: "system packages come from the host on this backend",
                   LAYOUT: "the sandbox lays out its own files"}.get(step.kind, "not an install step")
            record.append({"step": step.label, "command": step.command, "skipped": why})
            continue
        say(f"{step.label} ({runnable.index(step) + 1}/{len(runnable)} + warm-up): {_short(step.command)}")
        env = expand_from_image(dict(step.env), builder.env)
        if "PATH" in env and not env["PATH"].startswith(SHIM_DIR + ":"):  # installs are still recorded
            env["PATH"] = f"{SHIM_DIR}:{env['PATH']}"
        result = builder.run(f"set -e\n{step.command}", timeout=STEP_TIMEOUT, cwd=step.workdir,
                             env={**env, **era, "CB_SHIM_MODE": "record"})
        record.append({"step": step.label, "command": step.command, "exit_code": result.exit_code})
        if not result.ok:
            raise EnvironmentFailure(f"{plan.task}: environment step failed ({step.label}: {_short(step.command)}): "
                                     f"{explain_failure(result.stdout + result.stderr, result.exit_code, result.timed_out)}")
    say("warm-up run of runner.sh (installs recorded)")
    builder.write_file(f"{PATCHES_DIR}/tests.patch", BASE_RUN_PATCH.encode())
    result = builder.run(f"bash {RUNNER_PATH} tests.patch", timeout=STEP_TIMEOUT, cwd="/workspace/repo",
                         env={**era, "CB_SHIM_MODE": "warmup"})  # what a step installed is served, as in test runs
    record.append({"step": "runner.sh warm-up", "exit_code": result.exit_code})
    try:
        failures = builder.read_file(f"{STATE_DIR}/install-failures.tsv", 64_000).decode("utf-8", "replace").strip()
    except FileNotFoundError:
        failures = ""
    if failures:
        first = failures.splitlines()[0].split("\t", 1)[-1].strip()
        raise EnvironmentFailure(f"{plan.task}: runner.sh install step failed ({first}): "
                                 f"{explain_failure(result.stdout + result.stderr, result.exit_code, result.timed_out)}")
    if result.exit_code == 127 or result.timed_out:
        raise EnvironmentFailure(f"{plan.task}: runner.sh warm-up: "
                                 f"{explain_failure(result.stdout + result.stderr, result.exit_code, result.timed_out)}")
    return record


def packages_as_of(builder: Builder) -> dict[str, str]:
    """Python installs resolve as on the day of the base commit (pip and uv can), so an unpinned
    dependency gets the release the task was written against, not today's. (JavaScript projects
    pin theirs in a lockfile; their tools, pnpm say, must stay current for today's Node.)"""
    result = builder.run("git show -s --format=%cI HEAD", timeout=60, cwd="/workspace/repo")
    date = result.stdout.strip()
    if not result.ok or not re.fullmatch(r"\d{4}-\d\d-\d\dT[\d:]+(?:Z|[+-]\d\d:\d\d)", date):
        return {}
    return {"PIP_UPLOADED_PRIOR_TO": date, "UV_EXCLUDE_NEWER": date}


def _short(command: str, width: int = 70) -> str:
    line = " ".join(command.split())
    return line if len(line) <= width else line[: width - 3] + "..."


# ---------------------------------------------------------------- why something failed

CAUSES = (
    (re.compile(r"(?:^|\s)([\w.+-]+): (?:command )?not found"), "missing toolchain or tool: {0}"),
    (re.compile(r"no matching package named|failed to (?:download|load source for|get) .*crates|index\.crates\.io|github\.com/rust-lang/crates"),
     "the Rust crate registry cannot be reached (no network to crates.io here)"),
    (re.compile(r"(?:No matching distribution found for|Could not find a version that satisfies the requirement) ([^\s'\"]+)"),
     "a Python package cannot be had: {0}"),
    (re.compile(r"(ModuleNotFoundError: No module named \S+)"), "import error: {0}"),
    (re.compile(r"(ImportError: .+)"), "import error: {0}"),
    (re.compile(r"(error: externally-managed-environment)"), "{0}"),
    (re.compile(r"(?:getaddrinfo (?:ENOTFOUND|EAI_AGAIN)|Could not resolve host:?) ([\w.-]+)"),
     "{0} cannot be reached from here (only the package registries can)"),
    (re.compile(r"HTTPS?ConnectionPool\(host='([\w.-]+)'|couldn't connect to '?https?://([\w.-]+)"),
     "{0} cannot be reached from here (only the package registries can)"),
    (re.compile(r"(?:Temporary failure in name resolution|Network is unreachable)"), "no network"),
)


def explain_failure(output: str, exit_code: int | None, timed_out: bool = False) -> str:
    """One line naming the likely cause, read from a failed command's output."""
    if timed_out:
        return "timed out"
    for pattern, message in CAUSES:
        found = pattern.search(output)
        if found:
            return message.format(*(g.strip() for g in found.groups() if g)) + f" (exit {exit_code})"
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    return f"exit {exit_code}: {lines[-1][:200] if lines else 'no output'}"


_failed_builds: dict[str, str] = {}


@contextmanager
def build_lock(name: str) -> Iterator[None]:
    """One builder at a time per cached thing, across threads and processes; the others wait
    and then find it built (or, in this process, find that it failed: it is not tried again)."""
    folder = cache_root() / "locks"
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / f"{name}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            if name in _failed_builds:
                raise EnvironmentFailure(_failed_builds[name])
            try:
                yield
            except EnvironmentFailure as exc:
                _failed_builds[name] = str(exc)
                raise
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def host_python() -> str:
    """The Python the local environments are made from: the one running this tool, outside any venv."""
    name = f"python{sys.version_info.major}.{sys.version_info.minor}"
    candidate = Path(sys.base_prefix) / "bin" / name
    return str(candidate if candidate.exists() else Path(sys.base_prefix) / "bin" / "python3")
