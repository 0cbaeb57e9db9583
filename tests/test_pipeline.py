"""The DVC pipeline for real: `dvc repro`, `dvc status`, `dvc exp run`, `dvc push`/`dvc pull`
on a copy of this repository in a temp folder, with the shipped replay models."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from conftest import ROOT

VENV_BIN = Path(sys.executable).parent
ATTEMPT = "generated/tasks/miniconf_task/task1/{model}/attempt{k}"


def project_copy(target: Path) -> Path:
    """This repository's files (tracked and new, not ignored) in a fresh git repo at `target`."""
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
                            cwd=ROOT, capture_output=True, text=True, check=True).stdout.split("\0")
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    for name in ("dvc.lock", "generated/metrics.json", "generated/report.md"):  # start from nothing
        (target / name).unlink(missing_ok=True)
    shutil.rmtree(target / "generated" / "plots", ignore_errors=True)
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
    """Back to the committed params, lock and outputs, for the next test."""
    git(project, "checkout", "--", "params.yaml", "dvc.lock")
    dvc(project, "checkout", "--force")


def changed_stages(project: Path) -> set[str]:
    return set(json.loads(dvc(project, "status", "--json").stdout or "{}"))


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """A copy of the repository after one full `dvc repro`, committed."""
    work = project_copy(tmp_path_factory.mktemp("pipeline") / "work")
    first = dvc(work, "repro")
    work.joinpath("first-repro.log").write_text(first.stdout)
    commit(work, "first repro")
    return work


def test_stages_and_first_repro(project):
    stages = dvc(project, "stage", "list", "--name-only").stdout.split()
    # check + 2 prompts + (agent, split, validate) x 2 tasks x 2 models x 2 attempts + report
    assert len(stages) == 1 + 2 + 3 * 8 + 1 == len(set(stages))
    log = (project / "first-repro.log").read_text()
    assert log.count("Running stage") == 28
    assert log.rstrip().count("# Feature generation report") == 1  # the report is printed
    metrics = json.loads((project / "generated" / "metrics.json").read_text())["models"]
    assert metrics["replay_conflicting"]["success_rate"] == 1.0 and metrics["replay_conflicting"]["valid"] == 4
    assert metrics["replay_isolated"]["success_rate"] == 0.0
    assert metrics["replay_isolated"]["failure_reasons"] == {"conflicts with no existing feature": 4}
    failed = json.loads((project / ATTEMPT.format(model="replay_isolated", k=1) / "verdict.json").read_text())
    assert failed["reasons"] == ["conflicts with no existing feature"]
    report = (project / "generated" / "report.md").read_text()
    assert "| replay_conflicting (replay) | 4 | 4 | 100% |" in report
    assert "## Conflicts in durations_task/task1" in report
    assert "replayed recorded sessions" in report


def test_lineage_in_dvc_lock(project):
    lock = yaml.safe_load((project / "dvc.lock").read_text())["stages"]
    agent = lock["agent@miniconf_task/task1-replay_conflicting-1"]
    assert agent["params"]["params.yaml"]["models.replay_conflicting"]["name"] == "replay/conflicting"
    assert "models.replay_isolated" not in agent["params"]["params.yaml"]  # its own model entry only
    deps = {d["path"] for d in agent["deps"]}
    assert {"generated/tasks/miniconf_task/task1/prompt", "dataset/miniconf_task/task1",
            "src/cooperbench/generation/agent.py"} <= deps
    split = lock["split@miniconf_task/task1-replay_conflicting-1"]
    assert any(o["path"].endswith("attempt1/feature.patch") and o["md5"] for o in split["outs"])
    usage = json.loads((project / ATTEMPT.format(model="replay_conflicting", k=1) / "agent" / "usage.json").read_text())
    prompt = (project / "generated/tasks/miniconf_task/task1/prompt/prompt.md").read_bytes()
    import hashlib
    assert usage["prompt_sha256"] == hashlib.sha256(prompt).hexdigest()


def test_noop_repro_is_fast(project):
    started = time.monotonic()
    proc = dvc(project, "repro")
    assert ran(proc) == []
    assert time.monotonic() - started < 3
    assert "Data and pipelines are up to date." in proc.stdout


def test_only_the_changed_model_reruns(project):
    edit_params(project, lambda p: p["models"]["replay_isolated"].update(step_limit=50))
    try:
        changed = changed_stages(project)
        assert {"agent@miniconf_task/task1-replay_isolated-1", "agent@miniconf_task/task1-replay_isolated-2"} <= changed
        assert not any("replay_conflicting" in stage for stage in changed)
    finally:
        restore(project)


def test_a_new_model_runs_only_its_stages(project):
    def add_model(params):
        params["models"]["replay_again"] = {"name": "replay/isolated"}
        params["attempts"] = [1]  # keeps the test short; the other models' stages do not track it

    edit_params(project, add_model)
    try:
        proc = dvc(project, "repro")
        agents = [s for s in ran(proc) if s.startswith(("agent@", "split@", "validate@"))]
        assert agents and all("replay_again" in s for s in agents)
        assert len(agents) == 6  # 2 tasks x 1 attempt x (agent, split, validate)
    finally:
        restore(project)


def test_editing_one_task_reruns_only_that_task(project):
    feature_md = project / "dataset" / "durations_task" / "task1" / "feature1" / "feature.md"
    original = feature_md.read_text()
    feature_md.write_text(original + "\nEdited.\n")
    try:
        changed = changed_stages(project)
        assert {"prompt@durations_task/task1", "agent@durations_task/task1-replay_isolated-2"} <= changed
        assert not any("miniconf_task" in stage for stage in changed)
    finally:
        feature_md.write_text(original)


def test_experiments_compare_models(project):
    dvc(project, "exp", "run", "-S", "models.replay_isolated.step_limit=2", "-n", "short-leash")
    shown = json.loads(dvc(project, "exp", "show", "--json").stdout)
    text = json.dumps(shown)
    assert "short-leash" in text and "success_rate" in text
    narrow = dvc(project, "exp", "show", "--no-pager", "--md", "--drop", ".*", "--keep",
                 "Experiment|.*success_rate").stdout
    assert "models.replay_isolated.success_rate" in narrow
    diff = dvc(project, "metrics", "diff", "--json").stdout
    assert "replay_isolated" in diff  # 2 steps: no description, so different failure reasons
    restore(project)


def test_push_then_pull_in_a_fresh_clone(project, tmp_path):
    dvc(project, "push")
    clone = project.parent / "clone"
    subprocess.run(["git", "clone", "-q", str(project), str(clone)], check=True, env=env())
    try:
        dvc(clone, "pull")
        for model in ("replay_conflicting", "replay_isolated"):
            for k in (1, 2):
                for name in ("verdict.json", "feature.patch", "agent/trajectory.json"):
                    path = ATTEMPT.format(model=model, k=k) + "/" + name
                    assert (clone / path).read_bytes() == (project / path).read_bytes(), path
        assert ran(dvc(clone, "repro")) == []  # everything restored, nothing to redo
    finally:
        shutil.rmtree(clone)


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda p: p.update(tasks=["nosuch_task/task9"]), "task nosuch_task/task9 does not exist under dataset/"),
        (lambda p: p["models"].update(empty=None), "model empty has no settings"),
        (lambda p: p["models"].update({"bad-slug": {"name": "replay/isolated"}}), "use letters, digits and _"),
        (lambda p: p["models"].update(ghost={"name": "replay/no-such-session"}), "replay/no-such-session: no recorded session"),
    ],
)
def test_bad_params_stop_before_any_stage(project, change, message):
    edit_params(project, change)
    try:
        proc = dvc(project, "repro", check=False)
        assert proc.returncode != 0
        assert f"error: params.yaml: {message}" in proc.stderr + proc.stdout or message in proc.stderr + proc.stdout
        assert [s for s in ran(proc) if s != "check"] == []
    finally:
        restore(project)


def test_a_killed_stage_is_redone_alone(project, tmp_path):
    sessions = project / "dataset" / "miniconf_task" / "task1" / "replays"
    slow = json.loads((sessions / "isolated.traj.json").read_text())
    slow["messages"].insert(2, {"role": "assistant", "content": "wait", "tool_calls": [
        {"id": "w", "type": "function", "function": {"name": "bash", "arguments": json.dumps({"command": "sleep 4"})}}]})
    session = tmp_path / "slow.traj.json"  # outside the task folder, which every agent stage depends on
    session.write_text(json.dumps(slow))
    def add_slow_model(params):
        params["models"]["replay_slow"] = {"name": f"replay/{session}"}
        params.update(tasks=["miniconf_task/task1"], attempts=[1])  # only its one stage to redo

    edit_params(project, add_slow_model)
    stage = "agent@miniconf_task/task1-replay_slow-1"
    try:
        proc = subprocess.Popen([str(VENV_BIN / "dvc"), "repro", stage], cwd=project, start_new_session=True,
                                env={**env(), "PYTHONPATH": str(project / "src")}, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 60
        while "sleep 4" not in subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout:
            assert time.monotonic() < deadline and proc.poll() is None, "the slow stage never started"
            time.sleep(0.2)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        out = project / ATTEMPT.format(model="replay_slow", k=1) / "agent"
        assert not out.exists()  # nothing half-written
        again = dvc(project, "repro")
        assert [s for s in ran(again) if s.startswith("agent@")] == [stage]
        assert (out / "usage.json").exists()
        assert not list(out.parent.glob(".agent.tmp-*"))  # the killed run's scratch is gone
    finally:
        restore(project)


def test_promotion_never_overwrites(project):
    attempt = project / ATTEMPT.format(model="replay_conflicting", k=1)
    run = lambda: subprocess.run([sys.executable, "-m", "cooperbench.generation", "promote", str(attempt),
                                  "--task", "miniconf_task/task1"], cwd=project, capture_output=True, text=True,
                                 env={**env(), "PYTHONPATH": str(project / "src")})
    first = run()
    assert first.returncode == 0, first.stderr
    added = project / "dataset" / "miniconf_task" / "task1" / "feature7"
    assert sorted(p.name for p in added.iterdir()) == ["feature.md", "feature.patch", "tests.patch"]
    assert "conflicts with feature2, feature3" in first.stdout
    second = run()  # now a copy of feature7: refused, and feature7 is untouched
    assert second.returncode == 1 and "a copy of feature7" in second.stderr
    assert not (project / "dataset" / "miniconf_task" / "task1" / "feature8").exists()
    shutil.rmtree(added)
