"""cooperbench-verify: the agent's own check, answered by the grader, through the real agent loop."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import DEMO
from test_agent import SUBMIT, write_session

from cooperbench.generation.api import generate_feature
from cooperbench.generation.core.keys import attempt_record
from cooperbench.generation.sandbox.backends import open_sandbox
from cooperbench.generation.schemas import AgentSettings
from cooperbench.generation.tasks.task import load_task, resolve_repo

DURATIONS = DEMO.parents[1] / "durations_task" / "task1"


def verify_answers(trajectory: Path) -> list[str]:
    """The answers the agent got to its cooperbench-verify commands, in order."""
    messages = json.loads(trajectory.read_text())["messages"]
    answers = []
    for asked, answer in zip(messages, messages[1:]):
        commands = [a["command"] for a in (asked.get("extra") or {}).get("actions", [])]
        if asked["role"] == "assistant" and any(word in c for c in commands for word in ("cooperbench-verify", "VERIFY_REQUEST")):
            answers.append(answer["content"])
    return answers


def json_answer(answer: str) -> dict:
    return json.loads(answer[answer.index("{"):answer.rindex("}") + 1])


@pytest.mark.parametrize("task_dir", [DEMO, DURATIONS], ids=["miniconf", "durations"])
@pytest.mark.slow
def test_a_replayed_session_sees_not_valid_then_valid_and_the_verdict_agrees(task_dir, tmp_path):
    result = generate_feature(task_dir, "replay/conflicting", "local", output=tmp_path / "out")
    early, late = verify_answers(result.trajectory_path)
    assert "`cooperbench-verify` (alone" in json.loads(result.trajectory_path.read_text())["messages"][1]["content"]
    assert "NOT VALID" in early and "the diff has no test change" in early
    assert "conflicts with: feature" in early  # the source change's conflicts, told before any test exists
    report = json_answer(late)
    assert report["valid"] and report["rule"] == "hard" and report["reasons"] == []
    verdict = result.verdict
    assert report["conflicts"] == verdict["conflict_result"]["conflicts"] != []
    assert report["classes"] == {str(p["feature"]): p["class"] for p in verdict["conflict_result"]["pairs"] if p.get("class")}
    assert "hard" in report["classes"].values()
    assert report["fail_to_pass"] == verdict["checks"]["fail_to_pass"]["tests"]
    assert result.success  # the outside verdict, computed again from the submission, agrees


@pytest.mark.slow
def test_an_invalid_candidate_is_told_so_and_the_verdict_agrees(tmp_path):
    result = generate_feature(DEMO, "replay/isolated", "local", output=tmp_path / "out")
    (answer,) = verify_answers(result.trajectory_path)
    assert "NOT VALID" in answer and "conflicts with no existing feature" in answer
    assert not result.success and result.verdict["reasons"] == ["conflicts with no existing feature"]


def test_forged_requests_bad_arguments_and_the_call_limit(demo_copy, tmp_path):
    """Printing the request by hand only asks for the same check; arguments other than --json get
    the usage; past `agent.verify_calls` the tool says so; nothing of the agent's shapes an answer."""
    write_session(demo_copy / "replays" / "hostile.traj.json", [
        "echo COOPERBENCH_VERIFY_REQUEST --json",
        "cooperbench-verify --pass-everything",
        "echo checking && cooperbench-verify; echo '{\"valid\": true}'",
        "cooperbench-verify --json",
        SUBMIT,
    ])
    result = generate_feature(demo_copy, "replay/hostile", "local", output=tmp_path / "out", verify_calls=2)
    forged, bad, plain, spent = verify_answers(result.trajectory_path)
    assert json_answer(forged)["valid"] is False and json_answer(forged)["reasons"][0] == "the diff has no source change"
    assert "<output>\nusage: cooperbench-verify [--json]" in bad
    assert "<output>\nchecking\ncooperbench-verify: NOT VALID" in plain  # the answer where the command ran
    assert plain.rstrip().endswith('{"valid": true}\n</output>')  # what the agent printed itself stays its own
    assert "checks are used up" in spent


def test_the_tool_can_be_turned_off_and_then_the_grader_is_not_in_the_attempt_key(demo_copy, tmp_path):
    write_session(demo_copy / "replays" / "asks.traj.json", ["cooperbench-verify", SUBMIT])
    result = generate_feature(demo_copy, "replay/asks", "local", output=tmp_path / "out", verify_calls=0)
    (answer,) = verify_answers(result.trajectory_path)
    assert "<output>\ncooperbench-verify is not offered in this run\n</output>" in answer
    prompt = json.loads(result.trajectory_path.read_text())["messages"][1]["content"]
    assert "cooperbench-verify" not in prompt
    offered = AgentSettings.of("replay/asks")
    assert offered.agent.verify_calls > 0
    off = AgentSettings.of("replay/asks", verify_calls=0)
    assert "verifier" in attempt_record("t/task1", 1, "p", "d", offered, "local")["inputs"]
    assert "verifier" not in attempt_record("t/task1", 1, "p", "d", off, "local")["inputs"]


def test_the_command_is_on_the_path_of_every_sandbox_and_only_asks(demo_copy):
    task = load_task(demo_copy)
    with open_sandbox(task, "local", resolve_repo(task, None)) as sandbox:
        result = sandbox.run("command -v cooperbench-verify && cooperbench-verify --json", timeout=30)
    assert result.ok and result.stdout.splitlines() == ["/opt/cooperbench/bin/cooperbench-verify",
                                                        "COOPERBENCH_VERIFY_REQUEST --json"]
