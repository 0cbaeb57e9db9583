"""Decomposition: a plan splits a large feature, each attempt implements a part (demo replays)."""

from __future__ import annotations

import json

import pytest
from conftest import DEMO, assert_one_line_error, run_cli

from cooperbench.generation.agent.decompose import large_feature, parse_plan, planned
from cooperbench.generation.errors import GenerationError
from cooperbench.generation.pipeline.expand import expand
from cooperbench.generation.schemas import AgentSettings, DecomposeParams, ValidationSettings
from cooperbench.generation.tasks.task import load_task

PLAN = {"parts": [{"title": "A part", "description": "It does a part."}, {"title": "Another", "description": "More."}]}


@pytest.mark.slow
def test_a_replayed_decomposition_implements_each_part_and_is_validated(tmp_path):
    output = tmp_path / "out"
    args = ("--task", str(DEMO), "--strategy", "decompose", "--feature", "2", "--model", "replay/decompose",
            "--attempts", "2", "--require", "hard", "--output", str(output))
    proc = run_cli(*args)
    assert proc.returncode == 0, proc.stderr
    assert "plan: 2 parts of feature2: Integer getter with base prefixes; Boolean getter" in proc.stderr
    assert "2/2 valid" in proc.stdout and "replays of a recorded session" in proc.stdout
    folder = output / "miniconf_task" / "task1" / "replay_decompose"
    plan = json.loads((folder / "decompose-plan.json").read_text())
    assert plan["feature"] == 2 and plan["replay"] and plan["cost"] == 0.0
    for k, title in ((1, "Integer getter with base prefixes"), (2, "Boolean getter")):
        prompt = json.loads((folder / f"attempt{k}" / "agent" / "trajectory.json").read_text())["messages"][1]["content"]
        assert "## Your feature: a part of feature 2" in prompt and f"**{title}**" in prompt
        verdict = json.loads((folder / f"attempt{k}" / "verdict.json").read_text())
        assert verdict["valid"] and 2 in verdict["conflict_result"]["conflicts"]
        assert {p["feature"]: p["class"] for p in verdict["conflict_result"]["pairs"] if p.get("class")}[2] == "hard"
    again = run_cli(*args)
    assert again.returncode == 0 and "step 1" not in again.stderr  # the plan and the attempts are kept
    assert json.loads((folder / "decompose-plan.json").read_text()) == plan


def test_which_feature_is_split(tmp_path):
    task = load_task(DEMO)
    with pytest.raises(GenerationError, match="no feature is large enough to decompose"):
        large_feature(task, DecomposeParams())  # the demo's features are small
    assert large_feature(task, DecomposeParams(min_lines=30)).id == 2  # typed getters: 31 source lines
    assert large_feature(task, DecomposeParams(min_files=1)).id == 2  # the largest of the large
    assert large_feature(task, DecomposeParams(feature=5)).id == 5
    proc = run_cli("--task", str(DEMO), "--strategy", "decompose", "--model", "replay/decompose",
                   "--output", str(tmp_path))
    assert_one_line_error(proc, "no feature is large enough to decompose")


def test_plans_are_read_strictly():
    assert parse_plan("Here:\n```json\n" + json.dumps(PLAN) + "\n```", "p")[1].title == "Another"
    for answer in ("no JSON at all", '{"parts": "three"}', '{"parts": [{"title": "x"}]}', '{"parts": []}'):
        with pytest.raises(GenerationError, match="^p: the plan"):
            parse_plan(answer, "p")


def test_a_live_model_plans_through_litellm_and_is_asked_once(demo_copy, tmp_path):
    """The live path up to the API: litellm's own mock_response stands in for the provider."""
    settings = AgentSettings.of("openai/gpt-4o-mini", model_kwargs={"mock_response": json.dumps(PLAN)})
    file = tmp_path / "plan.json"
    plan = planned(load_task(demo_copy), settings, DecomposeParams(feature=3), 2, file)
    assert plan["feature"] == 3 and [p["title"] for p in plan["parts"]] == ["A part", "Another"] and not plan["replay"]
    answer = AgentSettings.of("openai/gpt-4o-mini", model_kwargs={"mock_response": "changed"})  # other settings, other key
    assert planned(load_task(demo_copy), settings, DecomposeParams(feature=3), 2, file) == plan  # kept
    with pytest.raises(GenerationError, match="the plan is not JSON"):
        planned(load_task(demo_copy), answer, DecomposeParams(feature=3), 2, file)


@pytest.mark.slow
def test_an_expansion_round_can_decompose(demo_copy, tmp_path):
    log = expand(demo_copy, 1, [AgentSettings.of("replay/decompose")], validation=ValidationSettings(require="hard"),
                 attempts=2, output=tmp_path / "runs", strategy="decompose", decompose=DecomposeParams(feature=2))
    (entry,) = log["rounds"]
    assert entry["strategy"] == "decompose" and [a["valid"] for a in entry["attempts"]] == [True, True]
    assert entry["accepted"]["attempt"] == 1 and entry["accepted"]["feature"] == 7  # ties: the first attempt
    assert (demo_copy / "feature7" / "feature.md").read_text().startswith("**Title**: Integer getter")
