"""The shipped demo tasks are what they claim: each feature's tests fail before it and pass after."""

from __future__ import annotations

import io
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from conftest import DEMO

DURATIONS = DEMO.parents[1] / "durations_task" / "task1"
from cooperbench.generation import load_task
from cooperbench.generation.tasks.task import resolve_repo


def checkout_base(tmp_path: Path, task_dir: Path = DEMO) -> Path:
    task = load_task(task_dir)
    archive = subprocess.run(
        ["git", f"--git-dir={resolve_repo(task)}", "archive", task.base_commit], capture_output=True, check=True
    ).stdout
    work = tmp_path / "repo"
    tarfile.open(fileobj=io.BytesIO(archive)).extractall(work, filter="data")
    subprocess.run(["git", "init", "-q"], cwd=work, check=True)  # so `git apply` stays inside it
    return work


def pytest_outcome(work: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
        cwd=work, capture_output=True, text=True,
    )


@pytest.mark.parametrize("task_dir, count", [(DEMO, 25), (DURATIONS, 18)], ids=["miniconf", "durations"])
def test_base_suite_passes(tmp_path, task_dir, count):
    proc = pytest_outcome(checkout_base(tmp_path, task_dir))
    assert proc.returncode == 0, proc.stdout
    assert f"{count} passed" in proc.stdout


@pytest.mark.parametrize(
    "task_dir, feature_id",
    [(DEMO, i) for i in range(1, 7)] + [(DURATIONS, i) for i in range(1, 5)],
    ids=[f"miniconf-{i}" for i in range(1, 7)] + [f"durations-{i}" for i in range(1, 5)],
)
@pytest.mark.slow
def test_feature_tests_fail_before_and_pass_after(tmp_path, task_dir, feature_id):
    feature = load_task(task_dir).feature(feature_id)
    work = checkout_base(tmp_path, task_dir)
    subprocess.run(["git", "apply", str(feature.path / "tests.patch")], cwd=work, check=True)
    before = pytest_outcome(work)
    assert before.returncode == 1 and " failed" in before.stdout, before.stdout
    subprocess.run(["git", "apply", str(feature.path / "feature.patch")], cwd=work, check=True)
    after = pytest_outcome(work)
    assert after.returncode == 0, after.stdout
