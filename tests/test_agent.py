"""The real agent loop (mini-swe-agent) with the replay model, in real sandboxes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import DEMO, ROOT, assert_one_line_error, default_sigint, run_cli

from cooperbench.generation import GenerationError, load_task
from cooperbench.generation.agent.loop import run_agent
from cooperbench.generation.agent.models import check_model
from cooperbench.generation.api import generate_feature
from cooperbench.generation.sandbox.backends import open_sandbox
from cooperbench.generation.schemas import AgentSettings
from cooperbench.generation.tasks.task import resolve_repo

SUBMIT = "echo COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT && git add -A && git diff --cached"
FAKE_KEY = "sk-test-fake-key-0123456789abcdef"


def write_session(path: Path, commands: list[str]) -> Path:
    """A trajectory file in mini-swe-agent's format whose assistant turns run `commands`."""
    messages = [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}]
    for i, command in enumerate(commands):
        messages.append({"role": "assistant", "content": f"turn {i}", "tool_calls": [
            {"id": f"c{i}", "type": "function", "function": {"name": "bash", "arguments": json.dumps({"command": command})}}]})
    path.write_text(json.dumps({"trajectory_format": "mini-swe-agent-1.1", "messages": messages}))
    return path


@pytest.fixture
def task_with_sessions(demo_copy):
    """A copy of the demo task whose replays/ folder we can add sessions to."""
    return demo_copy


def generate(task_dir: Path, model: str, tmp_path: Path, **settings):
    return generate_feature(task_dir, model, "local", output=tmp_path / "out", **settings)


@pytest.mark.slow
def test_shipped_valid_replay_end_to_end(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", FAKE_KEY)
    result = generate(DEMO, "replay/conflicting", tmp_path)
    assert result.success, result.verdict["reasons"]
    assert result.verdict["conflict_result"]["conflicts"] == [2, 3]
    assert result.agent_cost == 0.0
    assert "def get(self, key, fallback=_MISSING):" in result.feature_patch
    assert "test_none_and_empty_fallbacks_are_returned" in result.tests_patch
    assert result.feature_md.startswith("**Title**: Fallbacks of any value")
    attempt = tmp_path / "out" / "miniconf_task" / "task1" / "replay_conflicting" / "attempt1"
    assert result.attempt_dir == attempt
    usage = json.loads((attempt / "agent" / "usage.json").read_text())
    assert usage["replay"] is True and "replayed session" in usage["note"]
    assert usage["exit_status"] == "Submitted" and usage["steps"] == 10
    assert len(usage["prompt_sha256"]) == 64
    assert {"task", "attempt", "sample", "key", "mini-swe-agent", "litellm"} <= set(usage["provenance"])
    log = json.loads((attempt / "agent" / "agent-log.json").read_text())  # what depends on the moment
    assert "project_commit" not in usage["provenance"] and log["project_commit"] and log["wall_time"] >= 0
    outcome = json.loads((attempt / "agent" / "outcome.json").read_text())
    assert outcome["submission_matches_tree"] and outcome["diff_problem"] is None
    trajectory = json.loads(result.trajectory_path.read_text())
    assert trajectory["trajectory_format"] == "mini-swe-agent-1.1"
    assert trajectory["info"]["replay"] == {"session": "replay/conflicting", "turns": 10}
    assert str(tmp_path) not in result.trajectory_path.read_text()  # no host path
    assert [m["role"] for m in trajectory["messages"]].count("tool") == 9  # the commands really ran
    outputs = [m["content"] for m in trajectory["messages"] if m["role"] == "tool"]
    assert any("." * 27 + " " in o and "." * 28 not in o for o in outputs)  # pytest -qq: the 27 tests ran here
    assert not any("timestamp" in (m.get("extra") or {}) for m in trajectory["messages"])  # times are in the log


@pytest.mark.slow
def test_shipped_invalid_replay_reports_why(tmp_path):
    result = generate(DEMO, "replay/isolated", tmp_path)
    assert not result.success
    assert result.verdict["reasons"] == ["conflicts with no existing feature"]
    assert result.verdict["checks"]["fail_to_pass"]["ok"]


def test_step_limit_ends_with_a_recorded_status(tmp_path):
    result = generate(DEMO, "replay/conflicting", tmp_path, step_limit=3)
    assert result.usage["exit_status"] == "LimitsExceeded"
    assert result.usage["steps"] == 3
    assert result.verdict["agent_exit_status"] == "LimitsExceeded"
    assert "no_test_change" in result.verdict["reason_keys"]


def test_empty_submission(task_with_sessions, tmp_path):
    write_session(task_with_sessions / "replays" / "nothing.traj.json", ["ls", SUBMIT])
    result = generate(task_with_sessions, "replay/nothing", tmp_path)
    assert result.usage["exit_status"] == "Submitted"
    assert result.verdict["reason_keys"] == ["no_source_change", "no_test_change", "no_description"]


def test_edits_outside_the_repo_stay_out(task_with_sessions, tmp_path):
    outside = tmp_path / "host-file"
    write_session(task_with_sessions / "replays" / "outside.traj.json", [
        "echo x > ../outside.txt; echo y > /tmp/scratch.txt; echo z > /workspace/other.txt; "
        f"echo w > {outside}; echo v > /usr/evil || true",
        SUBMIT,
    ])
    result = generate(task_with_sessions, "replay/outside", tmp_path)
    assert not outside.exists()
    assert (tmp_path / "out" / "miniconf_task" / "task1" / "replay_outside" / "attempt1" / "agent" / "diff.patch").read_text() == ""
    assert result.usage["exit_status"] == "Submitted"


def test_env_and_printenv_show_no_key(task_with_sessions, tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", FAKE_KEY)
    monkeypatch.setenv("ANTHROPIC_API_KEY", FAKE_KEY + "x")
    write_session(task_with_sessions / "replays" / "env.traj.json", ["env", "printenv", "cat /proc/self/environ", SUBMIT])
    result = generate(task_with_sessions, "replay/env", tmp_path)
    written = "".join(p.read_text() for p in result.attempt_dir.rglob("*") if p.is_file())
    assert FAKE_KEY not in written
    assert "OPENAI_API_KEY" not in result.trajectory_path.read_text()
    assert "PATH=/opt/cooperbench/bin:" in result.trajectory_path.read_text()  # the commands did run


def test_secrets_are_redacted_from_trajectories(task_with_sessions, tmp_path, monkeypatch):
    # Even if a key reached a command's text, the saved trajectory would not keep it.
    monkeypatch.setenv("GEMINI_API_KEY", FAKE_KEY)
    write_session(task_with_sessions / "replays" / "leak.traj.json", [f"echo {FAKE_KEY}", SUBMIT])
    result = generate(task_with_sessions, "replay/leak", tmp_path)
    text = result.trajectory_path.read_text()
    assert FAKE_KEY not in text and "[REDACTED]" in text


@pytest.mark.parametrize(
    "content, message",
    [
        (None, "no recorded session at"),
        ("{not json", "not a readable trajectory"),
        ('{"messages": []}', "not a mini-swe-agent trajectory"),
        ('{"trajectory_format": "mini-swe-agent-1.1", "messages": [{"role": "assistant", "content": "hi"}]}', "has no command to replay"),
    ],
)
def test_bad_replay_files_are_one_line_errors(task_with_sessions, tmp_path, content, message):
    if content is not None:
        (task_with_sessions / "replays" / "bad.traj.json").write_text(content)
    proc = run_cli("--task", str(task_with_sessions), "--model", "replay/bad", "--output", str(tmp_path / "out"))
    assert_one_line_error(proc, message)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").rglob("verdict.json"))


@pytest.mark.slow
def test_unknown_model_and_missing_key_fail_before_any_sandbox(monkeypatch, tmp_path):
    for variable in ("GEMINI_API_KEY", "GOOGLE_API_KEY"):
        monkeypatch.delenv(variable, raising=False)
    with pytest.raises(GenerationError, match="unknown model"):
        check_model("nosuchprovider-xyz/model", DEMO)
    with pytest.raises(GenerationError, match="missing API key: set .*GEMINI_API_KEY"):
        check_model("gemini/gemini-3-flash-preview", DEMO)
    proc = run_cli("--task", "miniconf_task/task1", "--model", "gemini/gemini-3-flash-preview",
                   "--output", str(tmp_path / "out"), drop=("GEMINI_API_KEY", "GOOGLE_API_KEY"), GEMINI_API_KEY="")
    assert_one_line_error(proc, "GEMINI_API_KEY")
    assert not (tmp_path / "out").exists()  # failed before any sandbox or folder


def test_live_model_path_up_to_the_api_with_unknown_pricing(tmp_path, monkeypatch):
    """litellm's real completion path with its built-in mock (no network): an unpriced model
    runs, its cost is recorded as unknown, and the agent submits."""
    monkeypatch.setenv("OPENAI_API_KEY", FAKE_KEY)
    task = load_task(DEMO)
    calls = [{"id": "c1", "type": "function", "function": {"name": "bash", "arguments": json.dumps({"command": SUBMIT})}}]
    settings = AgentSettings.of("openai/not-a-priced-model-xyz",
                             model_kwargs={"mock_response": "submitting", "mock_tool_calls": calls})
    check_model(settings.model.name, DEMO)
    with open_sandbox(task, "local", resolve_repo(task)) as sandbox:
        outcome = run_agent(sandbox, "do nothing", settings, task, tmp_path / "t.json")
    assert (outcome.exit_status, outcome.steps, outcome.cost) == ("Submitted", 1, None)
    assert FAKE_KEY not in (tmp_path / "t.json").read_text()


def test_a_live_session_replays_as_messages_of_the_same_shape(task_with_sessions, tmp_path, monkeypatch):
    """The replay model answers without litellm; its messages carry what the live model's do
    (content, tool calls, parsed actions; tool results answering them), so a saved live session
    replays and whatever reads trajectories reads both alike."""
    monkeypatch.setenv("OPENAI_API_KEY", FAKE_KEY)
    task = load_task(task_with_sessions)
    calls = [{"id": "c1", "type": "function", "function": {"name": "bash", "arguments": json.dumps({"command": SUBMIT})}}]
    live = AgentSettings.of("openai/gpt-4o-mini", model_kwargs={"mock_response": "submitting", "mock_tool_calls": calls})
    with open_sandbox(task, "local", resolve_repo(task)) as sandbox:
        run_agent(sandbox, "do nothing", live, task, task_with_sessions / "replays" / "live.traj.json")
    with open_sandbox(task, "local", resolve_repo(task)) as sandbox:
        outcome = run_agent(sandbox, "do nothing", AgentSettings.of("replay/live"), task, tmp_path / "replayed.json")
    assert (outcome.exit_status, outcome.steps, outcome.cost, outcome.tokens) == ("Submitted", 1, 0.0, {"prompt": 0, "completion": 0})
    recorded, replayed = (json.loads(path.read_text())["messages"][2:] for path in
                          (task_with_sessions / "replays" / "live.traj.json", tmp_path / "replayed.json"))
    assert [m["role"] for m in replayed] == [m["role"] for m in recorded] == ["assistant", "exit"]
    answer, again = recorded[0], replayed[0]
    assert set(again) <= set(answer) and set(again["extra"]) <= set(answer["extra"]) | {"cost"}
    assert again["content"] == answer["content"]
    assert [c["function"] for c in again["tool_calls"]] == [c["function"] for c in answer["tool_calls"]]
    assert [a["command"] for a in again["extra"]["actions"]] == [a["command"] for a in answer["extra"]["actions"]] == [SUBMIT]


def test_an_unusable_model_fails_before_any_sandbox_and_records_nothing(tmp_path, monkeypatch):
    """The provider refuses the key (the remote API is mocked at litellm.completion): the cheap
    first call fails in one line, and no attempt folder is made."""
    import litellm

    def refuse(**kwargs):
        raise litellm.AuthenticationError(message="invalid key", llm_provider="openai", model="gpt-4o-mini")

    monkeypatch.setattr(litellm, "completion", refuse)
    monkeypatch.setenv("OPENAI_API_KEY", FAKE_KEY)
    with pytest.raises(GenerationError, match="cannot be used .AuthenticationError"):
        generate(DEMO, "openai/gpt-4o-mini", tmp_path, retries=1)
    assert not (tmp_path / "out").exists()


def test_an_endpoint_lost_mid_run_records_nothing(tmp_path, monkeypatch):
    """The first call answers, a later one cannot connect: infrastructure, not a result."""
    import litellm

    real = litellm.completion
    calls = {"n": 0}

    def flaky(**kwargs):
        calls["n"] += 1
        if calls["n"] > 1:
            raise litellm.APIConnectionError(message="connection reset", llm_provider="openai", model="gpt-4o-mini")
        return real(**{**kwargs, "mock_response": "OK"})

    monkeypatch.setattr(litellm, "completion", flaky)
    monkeypatch.setenv("OPENAI_API_KEY", FAKE_KEY)
    with pytest.raises(GenerationError, match="APIConnectionError"):
        generate(DEMO, "openai/gpt-4o-mini", tmp_path, retries=1)
    assert not list((tmp_path / "out").rglob("verdict.json")) if (tmp_path / "out").exists() else True
    assert not list((tmp_path / "out").rglob("attempt1")) if (tmp_path / "out").exists() else True


def test_replay_out_of_turns_ends_at_once(task_with_sessions, tmp_path):
    write_session(task_with_sessions / "replays" / "short.traj.json", ["ls"])
    result = generate(task_with_sessions, "replay/short", tmp_path)
    assert result.usage["exit_status"] == "ReplayExhausted" and result.usage["steps"] == 2  # the turn that found none counts


def test_an_agent_that_deletes_git_gets_a_clear_result(task_with_sessions, tmp_path):
    write_session(task_with_sessions / "replays" / "nogit.traj.json", ["echo x >> README.md && rm -rf .git", SUBMIT])
    result = generate(task_with_sessions, "replay/nogit", tmp_path)
    assert result.verdict["reason_keys"] == ["no_diff"]
    assert "was .git removed" in result.verdict["reasons"][0]
    assert result.trajectory_path.is_file()


@pytest.mark.slow
def test_a_diff_over_the_limit_is_a_reason_not_a_cut(task_with_sessions, tmp_path):
    write_session(task_with_sessions / "replays" / "huge.traj.json",
                  ["head -c 4500000 /dev/urandom | base64 -w 76 > miniconf/blob.txt", SUBMIT])
    result = generate(task_with_sessions, "replay/huge", tmp_path)
    assert result.verdict["reason_keys"] == ["no_diff"]
    assert "over the 5 MiB limit" in result.verdict["reasons"][0]


def test_a_key_in_the_agents_code_is_redacted_from_every_output(task_with_sessions, tmp_path, monkeypatch):
    monkeypatch.setenv("DEEPSEEK_KEY", FAKE_KEY)
    write_session(task_with_sessions / "replays" / "keyed.traj.json",
                  [f"echo 'TOKEN = \"{FAKE_KEY}\"' >> miniconf/config.py", SUBMIT])
    result = generate(task_with_sessions, "replay/keyed", tmp_path)
    for path in result.attempt_dir.rglob("*"):
        if path.is_file():
            assert FAKE_KEY not in path.read_text(errors="replace"), path
    assert "[REDACTED]" in result.feature_patch


@pytest.mark.slow
def test_rerun_skips_complete_attempts_and_failures_leave_nothing(tmp_path, monkeypatch):
    first = generate(DEMO, "replay/isolated", tmp_path)
    stamp = (first.attempt_dir / "verdict.json").stat().st_mtime_ns
    again = generate(DEMO, "replay/isolated", tmp_path)
    assert (again.attempt_dir / "verdict.json").stat().st_mtime_ns == stamp

    import cooperbench.generation.pipeline.attempts as generator

    def broken(*args, **kwargs):
        raise RuntimeError("validation crashed")

    monkeypatch.setattr(generator, "validate_step", broken)
    with pytest.raises(RuntimeError):
        generate(DEMO, "replay/isolated", tmp_path, attempt=2)
    model_dir = first.attempt_dir.parent
    assert sorted(p.name for p in model_dir.iterdir()) == ["attempt1"]  # no attempt2, no temp folder


@pytest.mark.slow
def test_a_rerun_with_other_inputs_redoes_what_they_change(tmp_path, capfd):
    """The CLI's and the API's "done" is the pipeline's key (keys.py): other agent settings run the
    agent again into the same folder; another validation timeout keeps the agent's run (not
    re-billed) and only validates again."""
    first = generate(DEMO, "replay/isolated", tmp_path)
    outcome = json.loads((first.attempt_dir / "agent" / "outcome.json").read_text())
    stamps = {name: (first.attempt_dir / name).stat().st_mtime_ns for name in ("agent/outcome.json", "verdict.json")}
    retimed = generate(DEMO, "replay/isolated", tmp_path, timeout=120)
    assert json.loads((retimed.attempt_dir / "agent" / "outcome.json").read_text()) == outcome
    assert (retimed.attempt_dir / "verdict.json").stat().st_mtime_ns != stamps["verdict.json"]
    assert "its inputs changed" not in capfd.readouterr().err
    fewer_steps = generate(DEMO, "replay/isolated", tmp_path, step_limit=3)
    assert "its inputs changed" in capfd.readouterr().err
    rerun = json.loads((fewer_steps.attempt_dir / "agent" / "outcome.json").read_text())
    assert rerun["key"] != outcome["key"] and rerun["exit_status"] == "LimitsExceeded"


@pytest.mark.slow
def test_cli_runs_attempts_in_parallel_with_a_summary(tmp_path):
    proc = run_cli("--task", "miniconf_task/task1", "--model", "replay/conflicting",
                   "--attempts", "2", "--jobs", "2", "--output", str(tmp_path / "out"))
    assert proc.returncode == 0, proc.stderr
    assert "2/2 valid" in proc.stdout and "replays of a recorded session" in proc.stdout
    assert "attempt1] step 8" in proc.stderr and "attempt2] VALID" in proc.stderr
    done = sorted(p.parent.name for p in (tmp_path / "out").rglob("verdict.json"))
    assert done == ["attempt1", "attempt2"]


@pytest.mark.slow
def test_infrastructure_failures_are_retried_and_results_are_not():
    from cooperbench.generation.errors import InfrastructureError
    from cooperbench.generation.pipeline.parallel import run_items

    calls = {"flaky": 0, "result": 0}

    def work(item: str) -> None:
        calls[item] += 1
        if item == "flaky" and calls[item] == 1:
            raise InfrastructureError("the sandbox would not start")
        if item == "result":
            raise GenerationError("a bug, or bad input: not to be retried")

    with pytest.raises(GenerationError, match="1 of 2 things failed .* result: a bug"):
        run_items(["flaky", "result"], work, jobs=2, name=str, what="things", retries=2)
    assert calls == {"flaky": 2, "result": 1}


@pytest.mark.slow
def test_ctrl_c_stops_generation_at_once_and_leaves_nothing(task_with_sessions, tmp_path, isolated_cache):
    import os
    import signal
    import subprocess
    import sys
    import time

    marker = f"sleep 97531.{os.getpid()}"  # this test's own commands, whatever else runs on the machine
    write_session(task_with_sessions / "replays" / "slow.traj.json", [marker, SUBMIT])
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "cooperbench.generation", "--task", str(task_with_sessions),
                             "--model", "replay/slow", "--attempts", "2", "--jobs", "2", "--output", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=default_sigint)
    try:
        deadline = time.monotonic() + 120
        while marker not in subprocess.run(["pgrep", "-af", marker], capture_output=True, text=True).stdout:
            assert time.monotonic() < deadline and proc.poll() is None, "the attempts never started"
            time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=300)  # not the 97531 s the commands would take (a busy machine may be slow)
    finally:
        proc.kill()
    assert proc.returncode == 130 and "Traceback" not in stderr, stderr
    assert not list(out.rglob("attempt*")) if out.exists() else True
    assert marker not in subprocess.run(["pgrep", "-af", marker], capture_output=True, text=True).stdout


def test_a_replay_outside_the_task_and_the_project_is_refused(tmp_path):
    outside = write_session(tmp_path / "elsewhere.traj.json", ["ls", SUBMIT])
    for name in (f"replay/{outside}", "replay/../../../../../../tmp/x"):
        with pytest.raises(GenerationError, match="outside the task folder and the project|no recorded session"):
            check_model(name, DEMO)
    with pytest.raises(GenerationError, match="outside the task folder and the project"):
        check_model(f"replay/{outside}", DEMO)


@pytest.mark.slow
def test_a_projects_own_templates_reach_the_agent_and_its_key(tmp_path):
    """`--templates agents/<name>.yaml` (params.yaml `agent.templates`): the agent reads them over
    the shipped ones, their text is part of the attempt's key, and a bad file is one line before
    anything runs."""
    (tmp_path / "agents").mkdir()
    shutil.copy(ROOT / "agents" / "small-features.yaml", tmp_path / "agents" / "small.yaml")
    dataset = str(ROOT / "dataset")
    made = run_cli("--task", "miniconf_task/task1", "--dataset", dataset, "--model", "replay/conflicting",
                   "--templates", "agents/small.yaml", "--output", "out", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    attempt = tmp_path / "out" / "miniconf_task" / "task1" / "replay_conflicting" / "attempt1"
    system = json.loads((attempt / "agent" / "trajectory.json").read_text())["messages"][0]["content"]
    assert "Prefer a small feature" in system
    inputs = json.loads((attempt / "agent" / "usage.json").read_text())["provenance"]["inputs"]
    assert inputs["templates"]
    with open(tmp_path / "agents" / "small.yaml", "a") as handle:
        handle.write("# a comment changes no template\n")
    kept = run_cli("--task", "miniconf_task/task1", "--dataset", dataset, "--model", "replay/conflicting",
                   "--templates", "agents/small.yaml", "--output", "out", cwd=tmp_path)
    assert "already complete for these inputs: kept" in kept.stderr, kept.stderr  # nothing re-billed
    (tmp_path / "agents" / "small.yaml").write_text("system_template: |\n  Be brief.\n")
    again = run_cli("--task", "miniconf_task/task1", "--dataset", dataset, "--model", "replay/conflicting",
                    "--templates", "agents/small.yaml", "--output", "out", cwd=tmp_path)
    assert "inputs changed since it ran" in again.stderr  # the templates are in the key, not only the name
    (tmp_path / "agents" / "bad.yaml").write_text("sytem_template: hello\n")
    refused = run_cli("--task", "miniconf_task/task1", "--dataset", dataset, "--model", "replay/conflicting",
                      "--templates", "agents/bad.yaml", "--output", "other", cwd=tmp_path)
    assert_one_line_error(refused, "agents/bad.yaml: unknown template `sytem_template`")
    assert not (tmp_path / "other").exists()
