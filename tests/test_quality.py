"""What makes a valid feature one a benchmark can trust, past its verdict: the judge of its
description against its tests, and the benchmark's own protocol on its pairs (a team of two
solver agents, one feature each, their work merged and both features' tests run). Replayed
sessions, real sandboxes, real git."""

from __future__ import annotations

import json

import pytest
from conftest import DEMO, ROOT
from test_agent import SUBMIT, write_session

from cooperbench.generation.agent.coop import MERGE_CONFLICT, SOLVED, TESTS_FAILED, run_team
from cooperbench.generation.agent.judge import judge, reached_code, read_label, shipped_template
from cooperbench.generation.conflicts.classify import WholeFeature, whole_features
from cooperbench.generation.errors import GenerationError
from cooperbench.generation.schemas import AgentSettings, ModelParams, ValidationSettings
from cooperbench.generation.tasks.task import load_task, resolve_repo

CANDIDATE = ROOT / "tests" / "data" / "candidates" / "valid"  # fallbacks of any value: hard against feature 3


def candidate(task) -> WholeFeature:
    return WholeFeature(max(f.id for f in task.features) + 1, (CANDIDATE / "feature.patch").read_text(),
                        (CANDIDATE / "tests.patch").read_text())


@pytest.mark.parametrize("answer, label", [
    ('{"label": "ok", "reasons": "all stated"}', "ok"),
    ('Thinking... then {"label": "leaks", "reasons": "code given"} done', "leaks"),
    ('{"label": "great"} {"label": "vague", "reasons": "no goal"}', "vague"),
    ("The description looks fine to me.", "unreadable"),
    ('{"label": "ok"', "unreadable"),
])
def test_the_judges_answer_is_a_label_or_unreadable(answer, label):
    assert read_label(answer)[0] == label


def test_the_judge_reads_the_base_code_the_change_and_the_tests_reach():
    """The files feature.patch changes and the modules the tests import, as at the base; never
    the change itself nor a test file."""
    task = load_task(DEMO)
    code = reached_code(task, resolve_repo(task), (CANDIDATE / "feature.patch").read_text(), (CANDIDATE / "tests.patch").read_text())
    assert list(code)[0] == "miniconf/config.py" and "_MISSING" not in code["miniconf/config.py"]
    assert not any(path.startswith("tests/") for path in code)


def test_a_replayed_judge_labels_offline_and_a_saved_session_replays(demo_copy, tmp_path):
    """replay/judge plays the shipped answer through litellm's own path (the demo candidate's
    feature.md names its sentinel: it leaks the solution); the session it saves is a trajectory
    that replays to the same label. An answer with no label is `unreadable`."""
    task = load_task(demo_copy)
    texts = {name: (CANDIDATE / name).read_text() for name in ("feature.patch", "tests.patch")}
    description = "Fallbacks of any value: use a `_MISSING = object()` sentinel in Section.get."
    found = judge(task, resolve_repo(task), description, texts["feature.patch"], texts["tests.patch"],
                  ModelParams(name="replay/judge"), shipped_template(), tmp_path / "session.json")
    assert found["label"] == "leaks" and found["replay"] and found["cost"] == 0.0
    saved = json.loads((tmp_path / "session.json").read_text())
    assert description in saved["messages"][0]["content"] and "miniconf/config.py" in saved["messages"][0]["content"]
    (demo_copy / "replays" / "again.traj.json").write_text((tmp_path / "session.json").read_text())
    again = judge(task, resolve_repo(task), description, texts["feature.patch"], texts["tests.patch"],
                  ModelParams(name="replay/again"), shipped_template(), tmp_path / "again.json")
    assert again["label"] == "leaks" and again["reasons"] == found["reasons"]
    (demo_copy / "replays" / "prose.traj.json").write_text(json.dumps({
        "trajectory_format": "mini-swe-agent-1.1", "messages": [{"role": "assistant", "content": "Looks fine."}]}))
    prose = judge(task, resolve_repo(task), description, texts["feature.patch"], texts["tests.patch"],
                  ModelParams(name="replay/prose"), shipped_template(), tmp_path / "prose.json")
    assert prose["label"] == "unreadable" and "Looks fine." in prose["reasons"]
    with pytest.raises(GenerationError, match="no recorded session"):
        judge(task, resolve_repo(task), description, texts["feature.patch"], texts["tests.patch"],
              ModelParams(name="replay/nobody"), shipped_template(), tmp_path / "none.json")


@pytest.mark.slow
@pytest.mark.parametrize("session, status", [
    (None, SOLVED),  # the shipped sessions: the candidate written apart from the lines feature 3 changes
    ("apply", MERGE_CONFLICT),  # each solver writes what its feature's author wrote: git cannot merge them
    ("nothing", TESTS_FAILED),  # the candidate's solver changes nothing: the merge is clean, its tests fail
])
def test_a_team_of_two_solvers_on_a_hard_pair(demo_copy, tmp_path, session, status):
    task = load_task(demo_copy)
    mine = candidate(task)
    if session == "apply":
        write_session(demo_copy / "replays" / f"solve.feature{mine.id}.traj.json",
                      [f"git apply <<'PATCH'\n{mine.feature_patch}PATCH", SUBMIT])
    elif session == "nothing":
        write_session(demo_copy / "replays" / f"solve.feature{mine.id}.traj.json", ["echo done", SUBMIT])
    pair = (whole_features(task)[3], mine)
    trajectories = {w.id: tmp_path / f"feature{w.id}.traj.json" for w in pair}
    record = run_team(task, resolve_repo(task), pair, {3: task.feature(3).description, mine.id: "Fallbacks of any value."},
                      AgentSettings.of("replay/solve"), ValidationSettings(), trajectories)
    assert record["status"] == status, record["evidence"]
    assert record["features"] == [3, mine.id] and record["cost"] == 0.0 and all(t.exists() for t in trajectories.values())
    if status == MERGE_CONFLICT:
        assert record["evidence"]["conflicting_files"] == ["miniconf/config.py"]
    if status == TESTS_FAILED:
        assert record["evidence"][f"feature{mine.id}"]["failed"]


@pytest.mark.slow
def test_check_dataset_quality_checks_the_tasks_own_features_as_candidates(tmp_path):
    """`check-dataset --quality --judge --solver`: every feature steady over reruns or not, its
    unneeded parts, its description's label, and a team of solvers on each hard pair; offline
    with replayed sessions."""
    import shutil

    from conftest import run_cli

    task = tmp_path / "dataset" / "durations_task" / "task1"
    shutil.copytree(ROOT / "dataset" / "durations_task" / "task1", task)
    write_session(task / "replays" / "solve.feature3.traj.json",
                  [f"git apply <<'PATCH'\n{(task / 'feature3' / 'feature.patch').read_text()}PATCH", SUBMIT])
    out = tmp_path / "quality.json"
    proc = run_cli("check-dataset", str(task), "--quality", "--judge", "replay/judge", "--solver", "replay/solve",
                   "--json", str(out))
    assert proc.returncode == 0, proc.stderr
    found = json.loads(out.read_text())
    rows = {r["feature"]: r for r in found["features"]}
    assert rows[2]["valid"] and rows[2]["rounds"] == 3 and rows[2]["flaky"] == [] and rows[2]["judge"] == "ok"
    assert found["teams"] == [{"task": "durations_task/task1", "pair": [2, 3], "solver": "replay/solve",
                               "status": "merge_conflict", "cost": 0.0}]
    assert "4 features: 2 valid, 2 steady over reruns, 2 with every part needed; judge: 4 ok; teams: 1 merge_conflict" in proc.stdout


def test_the_judges_prompt_is_bounded_whatever_the_candidate_writes():
    """A description or tests patch of megabytes reaches the judge cut (its prompt is what a
    judgement costs), saying so."""
    from cooperbench.generation.agent.judge import TEXT_LIMITS, judge_prompt

    task = load_task(DEMO)
    prompt = judge_prompt(task, shipped_template(), "x" * 5_000_000, "+y\n" * 2_000_000, {})
    assert len(prompt) < sum(TEXT_LIMITS.values()) + 10_000 and "more characters cut" in prompt
