"""A copy of this repository as a DVC project in a temp folder, built by one `dvc repro` with the
shipped replay models, and the commands the pipeline's tests run in it (dvc, git, the stages and
the CLI). conftest's session fixture `project` builds one copy for the modules that use it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml
from conftest import ROOT

VENV_BIN = Path(sys.executable).parent
TASK = "miniconf_task/task1"


def part(kind: str, model: str, k: int, task: str = TASK) -> str:
    return f"generated/{kind}/{model}/{task}/attempt{k}"


def project_copy(target: Path) -> Path:
    """This repository's files (tracked and new, not ignored) in a fresh git repo at `target`."""
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
                            cwd=ROOT, capture_output=True, text=True, check=True).stdout.split("\0")
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    (target / "dvc.lock").unlink(missing_ok=True)  # start from nothing
    shutil.rmtree(target / "generated", ignore_errors=True)
    git(target, "init", "-q")
    commit(target, "copy")
    return target


def env() -> dict[str, str]:
    return {**os.environ, "PATH": f"{VENV_BIN}:{os.environ['PATH']}", "DVC_NO_ANALYTICS": "1",
            "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, env=env(), capture_output=True, text=True, check=True).stdout


def commit(cwd: Path, message: str) -> None:
    git(cwd, "add", "-A")
    git(cwd, "commit", "-qm", message, "--allow-empty")


def dvc(cwd: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([str(VENV_BIN / "dvc"), *args], cwd=cwd, env={**env(), "PYTHONPATH": str(cwd / "src")},
                          capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise AssertionError(f"dvc {' '.join(args)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


def ran(proc: subprocess.CompletedProcess[str]) -> list[str]:
    return [line.split("'")[1] for line in proc.stdout.splitlines() if line.startswith("Running stage '")]


def edit_params(project: Path, change) -> None:
    path = project / "params.yaml"
    params = yaml.safe_load(path.read_text())
    change(params)
    path.write_text(yaml.safe_dump(params, sort_keys=False))


def restore(project: Path) -> None:
    """Back to the committed params, lock, dataset and outputs, for the next test (outputs of
    stages a test added, CLI runs and new files included). DVC checks the outputs out again only
    when a test changed one: a DVC process and a copy of every output, 1.3 CPU-s, after each of
    some 60 tests, most of which change none."""
    git(project, "checkout", "--", ".")
    git(project, "clean", "-fdqx", "runs")
    git(project, "clean", "-fdq")
    state = project / ".git" / "outputs-restored.json"
    if not state.exists() or json.loads(state.read_text()) != outputs(project):
        git(project, "clean", "-fdqx", "generated")
        dvc(project, "checkout", "--force")
        state.write_text(json.dumps(outputs(project)))


def outputs(project: Path) -> list:
    """Every path under generated/ with its size, modification time and inode: any write shows."""
    return sorted([str(p.relative_to(project)), s.st_size, s.st_mtime_ns, s.st_ino]
                  for p in (project / "generated").rglob("*") if (s := p.lstat()))


def changed_stages(project: Path) -> set[str]:
    return set(json.loads(dvc(project, "status", "--json").stdout or "{}"))


def built_project(tmp_path_factory) -> Path:
    """A copy of the repository after one full `dvc repro`, committed: conftest's `project`."""
    work = project_copy(tmp_path_factory.mktemp("pipeline") / "work")
    first = dvc(work, "repro")
    work.joinpath("first-repro.log").write_text(first.stdout)
    commit(work, "first repro")
    restore(work)  # the outputs as every later restore leaves them (logs/ gone)
    return work


def run_stage(project: Path, name: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, f"stages/{name}.py", *args], cwd=project, capture_output=True, text=True,
                          env={**env(), "PYTHONPATH": str(project / "src")})


def run_tool(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cooperbench.generation", *args], cwd=project, capture_output=True,
                          text=True, env={**env(), "PYTHONPATH": str(project / "src")})
