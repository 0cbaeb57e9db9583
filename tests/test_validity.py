"""One validity rule everywhere: the CLI and the API read params.yaml's `validation.require` and
`resolver` as the stages do (a flag over them), say the rule, run the resolver under `solvable`,
and write the rule into what depends on it. Offline, with the shipped replays."""

from __future__ import annotations

import json
import shutil

import pytest
from conftest import ROOT, assert_one_line_error, run_cli

from cooperbench.generation.core.layout import PARAMS_VARIABLE

DURATIONS = ROOT / "dataset" / "durations_task" / "task1"
PROJECT = ("tasks: [durations_task/task1]\nmodels: {m: {name: replay/conflicting}}\nattempts: 1\n"
           "validation: {require: solvable}\nresolver: {model: {name: replay/resolve}}\n")


@pytest.fixture
def project(tmp_path):
    """A project folder: its params.yaml asks `solvable` with the shipped resolver replay, and a
    copy of the durations task to promote into."""
    (tmp_path / "params.yaml").write_text(PROJECT)
    shutil.copytree(DURATIONS, tmp_path / "dataset" / "durations_task" / "task1")
    return tmp_path


def cli(project, *args: str):
    return run_cli(*args, cwd=project, drop=(PARAMS_VARIABLE,))


@pytest.mark.slow
def test_a_project_folders_rule_is_every_commands_rule(project):
    """Generate, validate and promote in a project folder grade under its `solvable` with its
    resolver, each saying so; the promoted feature's provenance keeps the rule and the solved
    pair; a kept resolution is reused, not run again."""
    made = cli(project, "--task", "durations_task/task1", "--model", "replay/conflicting", "--output", "runs")
    assert made.returncode == 0, made.stderr
    assert "validity rule: require: solvable (from params.yaml); resolver replay/resolve" in made.stderr
    assert "resolver replay/resolve on feature2: solvable" in made.stderr
    attempt = project / "runs" / "durations_task" / "task1" / "replay_conflicting" / "attempt1"
    verdict = json.loads((attempt / "verdict.json").read_text())
    assert verdict["valid"] and verdict["require"] == "solvable"
    assert [p["resolution"]["status"] for p in verdict["conflict_result"]["pairs"] if "resolution" in p] == ["solvable"]

    checked = cli(project, "validate", "durations_task/task1", str(attempt / "feature.patch"), str(attempt / "tests.patch"))
    assert checked.returncode == 0, checked.stderr
    assert checked.stdout.startswith("VALID  durations_task/task1  (local; require: solvable)")
    assert "feature2 (hard/resolver: solvable)" in checked.stdout

    promoted = cli(project, "promote", str(attempt), "--task", "durations_task/task1")
    assert promoted.returncode == 0, promoted.stderr
    assert "valid under `require: solvable`" in promoted.stdout
    assert "step 1" not in promoted.stderr  # the attempt's kept resolution, not a new session
    provenance = json.loads((project / "dataset" / "durations_task" / "task1" / "feature5" / "provenance.json").read_text())
    assert provenance["validity"] == {"require": "solvable", "resolver": "replay/resolve", "solved_pairs": [2]}

    released = cli(project, "export-release", "release")  # the public layout, the promoted feature listed
    assert released.returncode == 0 and "1 task(s), 1 generated feature(s)" in released.stdout, released.stderr
    task = project / "release" / "durations_task" / "task1"
    assert sorted(p.name for p in task.iterdir()) == ["Dockerfile", *[f"feature{k}" for k in range(1, 6)], "runner.sh", "setup.sh"]
    assert sorted(p.name for p in (task / "feature5").iterdir()) == ["feature.md", "feature.patch", "tests.patch"]
    [listed] = json.loads((project / "release" / "generated-features.json").read_text())
    assert listed["feature"] == 5 and listed["validity"]["require"] == "solvable" and listed["model"] == "replay/conflicting"
    assert_one_line_error(cli(project, "export-release", "release"), "already exists; nothing was written")


def test_a_flag_overrides_the_project_and_solvable_without_a_resolver_is_one_line(project):
    (project / "params.yaml").write_text(PROJECT.replace("resolver: {model: {name: replay/resolve}}\n", ""))
    refused = cli(project, "--task", "durations_task/task1", "--model", "replay/conflicting")
    assert_one_line_error(refused, "`require: solvable` (from params.yaml) needs a resolver model", "--resolver")
    assert not (project / "runs").exists()
    other = project / "elsewhere.yaml"
    other.write_text(PROJECT.replace("require: solvable", "require: hard"))
    told = cli(project, "validate", "durations_task/task1", "nothing.patch", "nothing.patch", "--params", str(other))
    assert f"validity rule: require: hard (from {other})" in told.stderr
    flagged = cli(project, "validate", "durations_task/task1", "nothing.patch", "nothing.patch", "--require", "conflict")
    assert "validity rule: require: conflict (from --require)" in flagged.stderr
    assert_one_line_error(flagged, "nothing.patch")
