"""Expansion rounds on a copy of the durations demo task, offline, with the shipped replays."""

from __future__ import annotations

import json
import shutil

import pytest
from conftest import ROOT, assert_one_line_error, run_cli

from cooperbench.generation.pipeline.expand import expand
from cooperbench.generation.schemas import AgentSettings, ValidationSettings

DURATIONS = ROOT / "dataset" / "durations_task" / "task1"
MODELS = [AgentSettings.of("replay/conflicting"), AgentSettings.of("replay/second")]


@pytest.fixture
def durations(tmp_path):
    target = tmp_path / "dataset" / "durations_task" / "task1"
    shutil.copytree(DURATIONS, target)
    return target


def grow(task_dir, output, rounds=3, **kwargs):
    return expand(task_dir, rounds, MODELS, validation=ValidationSettings(require="hard"), output=output, **kwargs)


def prompt_of(output, number: int, slug: str) -> str:
    trajectory = output / "durations_task" / "task1" / f"round{number}" / "durations_task" / "task1" / slug / "attempt1" / "agent" / "trajectory.json"
    return json.loads(trajectory.read_text())["messages"][1]["content"]


@pytest.mark.slow
def test_rounds_grow_the_task_and_each_prompt_lists_the_features_before_it(durations, tmp_path):
    output = tmp_path / "runs"
    log = grow(durations, output)
    assert [e["accepted"] and e["accepted"]["feature"] for e in log["rounds"]] == [5, 6, None]
    assert log["status"] == "stopped at round 3: no valid candidate"
    third = log["rounds"][2]["attempts"][0]  # the same session again: a copy of what round 2 accepted
    assert not third["valid"] and third["reasons"] == ["the feature is a copy of feature6 (the same change)"]
    assert log["overlap"] == {"5": {"1": "trivial", "2": "hard"}, "6": {"2": "hard", "5": "trivial"}}
    assert [e["features_before"] for e in log["rounds"]] == [[1, 2, 3, 4], [1, 2, 3, 4, 5], [1, 2, 3, 4, 5, 6]]
    assert log["cost"] == 0.0 and all(e["replay"] for e in log["rounds"])
    assert "Full unit names" not in prompt_of(output, 1, "replay_conflicting")
    assert "Full unit names" in prompt_of(output, 2, "replay_second")  # round 1's feature, in round 2's prompt
    assert sorted(p.name for p in durations.glob("feature*")) == [f"feature{i}" for i in range(1, 7)]
    provenance = json.loads((durations / "feature6" / "provenance.json").read_text())
    assert provenance["expansion"] == {"round": 2} and provenance["model"] == "replay/second"
    assert provenance["validity"] == {"require": "hard", "resolver": None, "solved_pairs": []}
    assert provenance["key"] == log["rounds"][1]["accepted"]["key"]
    assert (durations / "feature6" / "feature.md").read_text().startswith("**Title**: Digit separators")
    on_disk = json.loads((output / "durations_task" / "task1" / "expansion_log.json").read_text())
    assert on_disk == log


@pytest.mark.slow
def test_a_rerun_redoes_nothing_and_a_promotion_cut_short_is_finished(durations, tmp_path, capfd):
    output = tmp_path / "runs"
    first = grow(durations, output, rounds=2)
    capfd.readouterr()
    assert grow(durations, output, rounds=2) == first
    assert "step 1" not in capfd.readouterr().err  # no agent ran again
    log_file = output / "durations_task" / "task1" / "expansion_log.json"
    feature6 = (durations / "feature6" / "feature.patch").read_text()
    for cut in ("after the rename", "before the rename"):  # the log still says `promoting`
        log = json.loads(log_file.read_text())
        log["rounds"][1]["status"] = "promoting"
        del log["rounds"][1]["accepted"]["feature"]
        log_file.write_text(json.dumps(log))
        if cut == "before the rename":
            shutil.rmtree(durations / "feature6")
        again = grow(durations, output, rounds=2)
        assert again["rounds"][1]["accepted"]["feature"] == 6 and again["rounds"][1]["status"] == "done"
        assert not (durations / "feature7").exists() and (durations / "feature6" / "feature.patch").read_text() == feature6


@pytest.mark.slow
def test_solvable_rounds_run_the_resolver_and_keep_its_patch(durations, tmp_path):
    output = tmp_path / "runs"
    log = expand(durations, 1, MODELS[:1], validation=ValidationSettings(require="solvable"), output=output,
                 resolver=AgentSettings.of("replay/resolve"))
    (resolution,) = log["rounds"][0]["resolutions"]
    assert resolution["feature"] == 2 and resolution["status"] == "solvable" and resolution["replay"]
    assert (output / "durations_task" / "task1" / resolution["patch"]).read_text().startswith("diff --git")
    assert log["rounds"][0]["accepted"]["feature"] == 5 and log["status"] == "1 of 1 rounds done"


@pytest.mark.slow
def test_the_command_line(durations, tmp_path):
    proc = run_cli("expand", str(durations), "--rounds", "1", "--model", "replay/conflicting", "--require", "hard",
                   "--output", str(tmp_path / "runs"))
    assert proc.returncode == 0, proc.stderr
    assert "round 1: replay/conflicting, 1/1 valid; feature5 accepted (conflicts: feature1 trivial, feature2 hard)" in proc.stdout
    assert "replays of recorded sessions" in proc.stdout
    refused = run_cli("expand", str(durations), "--require", "solvable", "--model", "replay/conflicting")
    assert_one_line_error(refused, "needs a resolver model")
    assert not (durations / "feature6").exists()


def test_an_unreadable_log_is_one_line(durations, tmp_path):
    log = tmp_path / "runs" / "durations_task" / "task1" / "expansion_log.json"
    log.parent.mkdir(parents=True)
    log.write_text("{not json")
    proc = run_cli("expand", str(durations), "--model", "replay/conflicting", "--output", str(tmp_path / "runs"))
    assert_one_line_error(proc, "expansion_log.json: not an expansion log")
    assert not (durations / "feature5").exists()
