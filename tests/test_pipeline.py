"""The DVC pipeline for real: `dvc repro`, `dvc status`, `dvc exp run`, `dvc push`/`dvc pull`
on a copy of this repository in a temp folder, with the shipped replay models."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import time

import pytest
import yaml
from conftest import ROOT, assert_one_line_error
from dvcproject import TASK, VENV_BIN, changed_stages, dvc, edit_params, env, part, ran, restore, run_stage, run_tool

pytestmark = [pytest.mark.dvc, pytest.mark.xdist_group("dvc-project")]  # one worker, one built project (conftest)

SLOW_COMMAND = f"sleep 6.{os.getpid()}"  # a command of this run's own, whatever else runs on the machine


def test_stages_and_first_repro(project):
    stages = dvc(project, "stage", "list", "--name-only").stdout.split()
    # code + onboard + prompt + (agent, split, validate, resolve, judge, coop) per model + audit + report:
    # tasks and attempts run inside their stage
    assert sorted(stages) == sorted(["code", "onboard", "prompt", "audit", "report"] + [
        f"{stage}@{slug}" for stage in ("agent", "split", "validate", "resolve", "judge", "coop")
        for slug in ("replay_conflicting", "replay_isolated")])
    log = (project / "first-repro.log").read_text()
    assert log.count("Running stage") == 17
    assert "onboard: 0 repositories onboarded, 0 kept" in log  # the demo names none
    assert "audit: 2 tasks (2 audited now, 0 kept)" in log
    assert "replay_conflicting: 4 hard pairs, 4 solvable (4 resolved now, 0 kept)" in log
    assert "replay_conflicting: 4 judged (4 now): 2 leaks, 2 ok" in log  # the shipped judge sessions, offline
    assert "replay_conflicting: 4 team runs (4 now): 2 merge_conflict, 2 solved" in log  # the shipped solver sessions
    assert "prompts: 2 written, 0 kept" in log
    assert "replay_conflicting: 4 attempts (4 run now, 0 kept): Submitted 4" in log
    assert log.rstrip().count("# Feature generation report") == 1  # the report is printed
    metrics = json.loads((project / "generated" / "metrics.json").read_text())["models"]
    assert metrics["replay_conflicting"]["success_rate"] == 1.0 and metrics["replay_conflicting"]["valid"] == 4
    assert metrics["replay_isolated"]["success_rate"] == 0.0
    assert metrics["replay_isolated"]["failure_reasons"] == {"no_conflict": 4}
    assert metrics["replay_isolated"]["exit_statuses"] == {"Submitted": 4}
    trusted = metrics["replay_conflicting"]  # steady over 3 runs; the durations candidate's docstring hunk is no part
    assert trusted["steady_share"] == 1.0 and trusted["needed_share"] == 0.5 and trusted["unneeded_parts"] == 2
    assert trusted["judge_labels"] == {"leaks": 2, "ok": 2} and trusted["well_specified_share"] == 0.5
    assert trusted["teams"] == {"replay/solve": {"runs": 4, "solved": 2, "merge_conflict": 2, "tests_failed": 0,
                                                 "solve_rate": 0.5}}
    parts = json.loads((project / part("verdicts", "replay_conflicting", 1, "durations_task/task1") / "verdict.json")
                       .read_text())["checks"]["needed"]["parts"]
    assert [p.get("kind") for p in parts] == [None, "documentation", None] and all(p["needed"] is not False for p in parts)
    failed = json.loads((project / part("verdicts", "replay_isolated", 1) / "verdict.json").read_text())
    assert failed["reasons"] == ["conflicts with no existing feature"]
    per_task = json.loads((project / "generated" / "tasks.json").read_text())  # apart: `dvc exp show` stays narrow
    assert per_task["replay_conflicting"]["durations_task/task1"]["valid"] == 2 and "tasks" not in metrics["replay_conflicting"]
    report = (project / "generated" / "report.md").read_text()
    assert "Validity rule: `validation.require: solvable`" in report
    assert ("| replay_conflicting | miniconf_task/task1 | 2 | 100% | 0% | 2 leaks | replay/solve: 2/2 solved, "
            "0 merge conflict, 0 tests failed |") in report
    assert metrics["replay_conflicting"]["model"] == "replay/conflicting"
    assert metrics["replay_isolated"]["conflicts_per_valid"] is None and metrics["replay_isolated"]["cost_per_valid"] is None
    assert metrics["replay_isolated"]["success_interval"][0] == 0.0 and metrics["replay_isolated"]["success_interval"][1] > 0.4
    assert not any("wall" in key for m in metrics.values() for key in m)  # timings are logs, not metrics
    plots = {row["model"]: row for row in json.loads((project / "generated" / "plots" / "models.json").read_text())}
    assert plots["replay_isolated"]["cost_per_valid"] is None  # not 0.0, which would read as the cheapest
    report = (project / "generated" / "report.md").read_text()
    assert "| replay_conflicting (replay) | 4 | 4 | 2 | 100% (51%-100%) | Submitted 4 |" in report  # 2 distinct: attempts alike
    assert "| replay_conflicting | `replay/conflicting` | 75 | $2.0000 |" in report
    assert "| `no_conflict` | 0 | 4 |" in report  # per model: replay_conflicting, replay_isolated
    assert "| replay_conflicting | 4 | 4 | 16 | $0.0000 | $0.0000 |" in report  # the resolver's sessions
    assert "## Conflicts in durations_task/task1" in report and "replayed recorded sessions" in report
    images = project / "generated" / "plots" / "images"  # static charts, linked from the report, rendered offline
    assert sorted(p.name for p in images.iterdir()) == [
        "conflicts-durations_task-task1.svg", "conflicts-miniconf_task-task1.svg", "success.svg"]
    assert "](plots/images/conflicts-durations_task-task1.svg)" in report and "](plots/images/success.svg)" in report
    success = (images / "success.svg").read_text()
    assert "100% (51%-100%)" in success and "0% (0%-49%)" in success  # the bars carry their intervals
    heatmap = (images / "conflicts-durations_task-task1.svg").read_text()
    assert "miniconf" not in heatmap and "feature2 x replay_conflicting/attempt1: hard" in heatmap  # its own axes
    assert "| miniconf_task/task1 | 15 | 3 | 2 | 1 | 2, 3, 4, 6 | - |" in report  # the audit of the tasks' own pairs
    audit = json.loads((project / "generated" / "audit" / "durations_task" / "task1.json").read_text())
    assert {(r["f1"], r["f2"]): r["class"] for r in audit["pairs"] if r["has_conflict"]} == {(1, 2): "trivial", (2, 3): "hard"}


def test_lineage_in_dvc_lock_and_records(project):
    lock = yaml.safe_load((project / "dvc.lock").read_text())["stages"]
    agent = lock["agent@replay_conflicting"]
    assert agent["params"]["params.yaml"]["models.replay_conflicting"]["name"] == "replay/conflicting"
    assert "models.replay_isolated" not in agent["params"]["params.yaml"]  # its own model entry only
    deps = {d["path"] for d in agent["deps"]}
    assert {"generated/prompts", "generated/code/agent.json"} <= deps and not any(d.startswith("src/") for d in deps)
    code = json.loads((project / "generated/code/agent.json").read_text())["files"]  # its code, file by file
    assert code["src/cooperbench/generation/agent/loop.py"] == hashlib.sha256(
        (project / "src/cooperbench/generation/agent/loop.py").read_bytes()).hexdigest()
    assert "src/cooperbench/generation/validation/candidate.py" in code  # cooperbench-verify's answers come from the grader
    assert "dataset" not in deps  # dataset/ enters through prompt
    split_deps = {d["path"] for d in lock["split@replay_conflicting"]["deps"]}
    assert "generated/index/agent/replay_conflicting.json" in split_deps and "generated/agent/replay_conflicting" not in split_deps
    outcome = json.loads((project / part("agent", "replay_conflicting", 1) / "outcome.json").read_text())
    prompt = (project / "generated/prompts/miniconf_task/task1/prompt.md").read_bytes()
    assert outcome["inputs"]["prompt"] == hashlib.sha256(prompt).hexdigest()
    assert {"task_files", "settings", "backend", "code"} <= set(outcome["inputs"]) and outcome["key"]
    checked = run_tool(project, "lineage")
    assert checked.returncode == 0 and "8 attempts, 0 with broken lineage" in checked.stdout
    edit_params(project, lambda p: p["prompt"].update(max_hotspots=3))
    try:
        dvc(project, "repro", "prompt")  # new prompts; the attempts are stale now
        stale = run_tool(project, "lineage")
        assert stale.returncode == 1 and "prompt changed since it ran" in stale.stdout
    finally:
        restore(project)


def test_the_committed_lock_is_what_the_code_makes(project):
    """dvc.lock as committed holds exactly dvc.yaml's stages, and a repro from nothing (the
    project fixture's, in another folder, with another cache, often on another machine) makes it
    byte for byte: what main's lock names, main's code produces. The lock holds the hash of every
    output (prompts, sessions, splits, verdicts, metrics, report), so outputs are a function of
    their inputs; and a session names no host path."""
    trajectory = (project / part("sessions", "replay_isolated", 1) / "trajectory.json").read_text()
    assert str(project) not in trajectory and ".tmp-" not in trajectory
    committed = subprocess.run(["git", "show", "HEAD:dvc.lock"], cwd=ROOT, capture_output=True, text=True)
    if committed.returncode != 0:
        pytest.skip("not a git checkout: no committed dvc.lock to compare")
    stages = set(dvc(project, "stage", "list", "--name-only").stdout.split())
    assert set(yaml.safe_load(committed.stdout)["stages"]) == stages
    assert (project / "dvc.lock").read_text() == committed.stdout, \
        "dvc.lock is not what this code makes: run `dvc repro` and commit dvc.lock"


def test_a_change_that_cannot_change_a_result_reruns_no_attempt(project):
    """A comment in every module of the package: DVC reruns the stages whose code files changed,
    and they keep every attempt and verdict (nothing re-billed). What does change a result moves
    the attempt's key (test_lineage: the agent's template), and a new key runs (a new model, more
    attempts, an experiment on the step limit: below and in the docs' examples)."""
    package = project / "src" / "cooperbench" / "generation"
    try:
        for module in package.rglob("*.py"):
            module.write_text(module.read_text() + "\n# a comment\n")
        proc = dvc(project, "repro")
        assert "replay_conflicting: 4 attempts (0 run now, 4 kept)" in proc.stdout
        assert "(4 with a hard conflict for the resolve stage) (0 validated now)" in proc.stdout
        assert "replay_conflicting: 4 hard pairs, 4 solvable (0 resolved now, 4 kept)" in proc.stdout
    finally:
        restore(project)


def test_the_resolver_and_the_rule(project):
    """`require: solvable` (the shipped params): each replay_conflicting candidate has one hard
    conflict, which the replayed resolver solves, checked by both features' own tests. Changing the
    rule reruns only the stages that read verdicts: they are regraded, and no run or session is made again."""
    record = json.loads((project / part("resolutions", "replay_conflicting", 1) / "vs_feature3.json").read_text())
    assert record["status"] == "solvable" and record["replay"] and record["features"] == [3, 7]
    assert (project / part("resolutions", "replay_conflicting", 1) / "vs_feature3.patch").read_text().startswith("diff --git")
    verdict = json.loads((project / part("verdicts", "replay_conflicting", 1) / "verdict.json").read_text())
    assert {p["feature"]: p.get("class") for p in verdict["conflict_result"]["pairs"] if p.get("class")} == {2: "trivial", 3: "hard"}
    try:
        edit_params(project, lambda p: p["validation"].update(require="hard"))
        proc = dvc(project, "repro")
        assert set(ran(proc)) == {f"{stage}@{model}" for stage in ("validate", "resolve", "judge", "coop")
                                  for model in ("replay_conflicting", "replay_isolated")} | {"report"}
        assert "(0 validated now, 4 regraded under the rule)" in proc.stdout
        assert "replay_conflicting: 4 judged (0 now)" in proc.stdout  # the stages read the verdicts; no session is re-billed
        assert "replay_conflicting: 4 team runs (0 now)" in proc.stdout
        assert "replay_conflicting: 4 hard pairs, 4 solvable (0 resolved now, 4 kept)" in proc.stdout
        edit_params(project, lambda p: p["validation"].update(require="conflict"))
        dvc(project, "repro")
        metrics = json.loads((project / "generated" / "metrics.json").read_text())["models"]
        assert metrics["replay_conflicting"]["valid"] == 4 and metrics["replay_conflicting"]["solvable_share"] == 1.0
        edit_params(project, lambda p: p.update(resolver={}))  # no resolver: nothing is solvable
        edit_params(project, lambda p: p["validation"].update(require="solvable"))
        proc = dvc(project, "repro")
        assert "no resolver model (resolver.model)" in proc.stdout
        metrics = json.loads((project / "generated" / "metrics.json").read_text())["models"]
        assert metrics["replay_conflicting"]["valid"] == 0
        assert metrics["replay_conflicting"]["failure_reasons"] == {"no_solved_conflict": 4}
    finally:
        restore(project)


def test_noop_repro_runs_nothing(project):
    proc = dvc(project, "repro")
    assert ran(proc) == []
    assert "Data and pipelines are up to date." in proc.stdout


def test_only_the_changed_model_reruns(project):
    edit_params(project, lambda p: p["models"]["replay_isolated"].update(step_limit=50))
    try:
        changed = changed_stages(project)
        assert "agent@replay_isolated" in changed
        assert not any("replay_conflicting" in stage for stage in changed)
    finally:
        restore(project)


def test_more_attempts_run_only_the_new_ones(project):
    edit_params(project, lambda p: p.update(attempts=3))
    try:
        proc = dvc(project, "repro", "agent@replay_isolated")
        assert "replay_isolated: 6 attempts (2 run now, 4 kept)" in proc.stdout
    finally:
        restore(project)


def test_a_new_model_runs_only_its_stages(project):
    def add_model(params):
        params["models"]["replay_again"] = {"name": "replay/isolated"}

    edit_params(project, add_model)
    try:
        proc = dvc(project, "repro")
        models = [s for s in ran(proc) if s.startswith(("agent@", "split@", "validate@", "resolve@"))]
        assert models == ["agent@replay_again", "split@replay_again", "validate@replay_again", "resolve@replay_again"]
    finally:
        restore(project)


def test_a_failing_model_leaves_a_report_of_the_others(project):
    """`dvc repro -k` with a model whose agent stage fails: the report stage cannot run, and
    `report` writes the report of the models that ran, the failed one listed with its error."""
    edit_params(project, lambda p: p["models"].update(broken={"name": "replay/no-such-session"}))
    try:
        proc = dvc(project, "repro", "-k", check=False)
        assert proc.returncode != 0 and "agent@broken" in ran(proc) and "report" not in ran(proc)
        made = run_tool(project, "report", "--out", "partial")
        assert made.returncode == 0, made.stderr
        text = (project / "partial" / "report.md").read_text()
        assert "## Models left out" in text and "| broken | agent@broken |" in text and "no-such-session" in text
        assert "| replay_conflicting (replay) | 4 | 4 |" in text and "| broken (replay)" not in text
        assert (project / "partial" / "plots" / "images" / "success.svg").is_file()
        assert changed_stages(project) >= {"agent@broken", "report"}  # generated/ itself untouched by `report`
    finally:
        shutil.rmtree(project / "partial", ignore_errors=True)
        restore(project)


def test_the_swebench_export_holds_each_valid_feature(project):
    made = run_tool(project, "export", "runs/all.jsonl", "--all")
    assert made.returncode == 0 and "runs/all.jsonl: 8 instance(s)" in made.stdout, made.stderr
    rows = [json.loads(line) for line in (project / "runs" / "all.jsonl").read_text().splitlines()]
    first = rows[0]
    assert first["instance_id"] == "miniconf_task__task1-replay_conflicting-attempt1" and first["valid"]
    assert first["patch"] == (project / part("split", "replay_conflicting", 1) / "feature.patch").read_text()
    assert json.loads(first["FAIL_TO_PASS"]) and len(json.loads(first["PASS_TO_PASS"])) == 25
    assert first["conflicts"] == {"2": "trivial", "3": "hard"} and first["require"] == "solvable"
    assert sum(row["valid"] for row in rows) == 4 and not any(r["valid"] for r in rows if "isolated" in r["instance_id"])
    shutil.rmtree(project / "runs")


def test_a_decomposing_model_plans_once_and_implements_a_part_an_attempt(project):
    """`strategy: decompose` in params.yaml, through real DVC: the agent stage asks the (replayed)
    plan once, keeps it beside the attempts, and gives attempt k part k of it."""
    def decompose(params):
        params.update(tasks=["miniconf_task/task1"], models={"replay_decompose": {"name": "replay/decompose"}},
                      strategy="decompose", decompose={"feature": 2})
        params["validation"]["require"] = "hard"

    edit_params(project, decompose)
    try:
        proc = dvc(project, "repro")
        assert "replay_decompose: 2 attempts (2 run now, 0 kept): Submitted 2" in proc.stdout
        plan = json.loads((project / "generated" / "agent" / "replay_decompose" / TASK / "decompose-plan.json").read_text())
        assert plan["feature"] == 2 and len(plan["parts"]) == 2 and plan["replay"]
        metrics = json.loads((project / "generated" / "metrics.json").read_text())["models"]["replay_decompose"]
        assert metrics["valid"] == 2 and metrics["hard_per_valid"] == 1.0
        assert ran(dvc(project, "repro")) == []
    finally:
        restore(project)


def test_an_experiment_on_the_strategy_reruns_the_agent_stage(project):
    """dvc.yaml gives each stage every params key it reads (pipeline/dvcfile.py writes it from the
    stage declarations): `dvc exp run -S strategy=...` reruns the agent stage of every model."""
    try:
        proc = dvc(project, "exp", "run", "-S", "strategy=decompose", check=False)
        assert ran(proc)[:1] == ["agent@replay_conflicting"], proc.stdout[-2000:]  # nothing upstream reran
        # it reran under the new strategy, which found no feature of the demo task large enough to split
        assert "to decompose" in proc.stderr and "decompose.feature in params.yaml" in proc.stderr, proc.stderr[-2000:]
    finally:
        restore(project)


def test_editing_one_task_redoes_only_that_tasks_attempts(project):
    feature_md = project / "dataset" / "durations_task" / "task1" / "feature1" / "feature.md"
    original = feature_md.read_text()
    feature_md.write_text(original + "\nEdited.\n")
    try:
        assert "prompt" in changed_stages(project)
        proc = dvc(project, "repro", "agent@replay_isolated")
        assert "prompts: 1 written, 1 kept" in proc.stdout
        assert "replay_isolated: 4 attempts (2 run now, 2 kept)" in proc.stdout  # durations' only
        assert "audit: 2 tasks (1 audited now, 1 kept)" in dvc(project, "repro", "audit").stdout
    finally:
        feature_md.write_text(original)
        restore(project)


def test_stages_refuse_inputs_their_upstream_did_not_write(project):
    """A stage depends on its upstream's index and on the prompts, not on the folders themselves:
    run on its own after an edit that bypassed the pipeline, it stops in one line."""
    diff = project / part("agent", "replay_isolated", 1) / "diff.patch"
    feature_md = project / "dataset" / "durations_task" / "task1" / "feature1" / "feature.md"
    original_diff, original_md = diff.read_bytes(), feature_md.read_bytes()
    try:
        diff.write_bytes(original_diff + b"\n")
        proc = run_stage(project, "split", "replay_isolated")
        assert_one_line_error(proc, str(part("agent", "replay_isolated", 1)) + "/diff.patch", "index/agent/replay_isolated.json")
        diff.write_bytes(original_diff)
        feature_md.write_bytes(original_md + b"\nEdited.\n")
        proc = run_stage(project, "validate", "replay_isolated")
        assert_one_line_error(proc, "dataset/durations_task/task1", "changed since its prompt was made")
    finally:
        diff.write_bytes(original_diff)
        feature_md.write_bytes(original_md)
    for record in (project / "generated/index/agent/replay_isolated.json", project / "generated/prompts" / TASK / "inputs.json"):
        original = record.read_bytes()
        try:
            record.write_text("{not json")
            assert_one_line_error(run_stage(project, "split", "replay_isolated"), str(record.relative_to(project)), "unreadable")
        finally:
            record.write_bytes(original)
    assert run_stage(project, "split", "replay_isolated").returncode == 0
    assert changed_stages(project) == set()


def test_experiments_compare_models(project):
    dvc(project, "exp", "run", "-S", "+models.replay_conflicting.step_limit=3", "-n", "short-leash")
    narrow = dvc(project, "exp", "show", "--no-pager", "--md", "--only-changed").stdout  # as README.md writes it
    header = narrow.splitlines()[0]
    assert "short-leash" in narrow and "models.replay_conflicting.success_rate" in header
    assert "models.replay_conflicting.step_limit" in header and "tasks" not in header  # the change, no per-task columns
    diff = json.loads(dvc(project, "metrics", "diff", "--json").stdout)
    change = diff["generated/metrics.json"]["models.replay_conflicting.success_rate"]
    assert (change["old"], change["new"]) == (1.0, 0.0)  # 3 steps: no tests written, nothing valid
    restore(project)


def test_push_then_pull_in_a_fresh_clone(project):
    dvc(project, "push")
    clone = project.parent / "clone"
    subprocess.run(["git", "clone", "-q", str(project), str(clone)], check=True, env=env())
    try:
        dvc(clone, "pull")
        for name in ("split/replay_conflicting", "verdicts/replay_isolated", "sessions/replay_isolated"):
            for file in (project / "generated" / name).rglob("*"):
                if file.is_file():
                    relative = file.relative_to(project)
                    assert (clone / relative).read_bytes() == file.read_bytes(), relative
        assert ran(dvc(clone, "repro")) == []  # everything restored, nothing to redo
    finally:
        shutil.rmtree(clone)


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda p: p.update(tasks=["nosuch_task/task9"]), "task nosuch_task/task9 does not exist under dataset/"),
        (lambda p: p.update(tasks=["miniconf_task/task1", "miniconf_task/task1"]), "listed twice: miniconf_task/task1"),
        (lambda p: p["models"].update({"bad-slug": {"name": "replay/isolated"}}), "`models.bad-slug.[key]`"),
        (lambda p: p["models"]["replay_isolated"].update(step_limit="many"), "`models.replay_isolated.step_limit`"),
        (lambda p: p["models"]["replay_isolated"].update(model_kwargs=5), "`models.replay_isolated.model_kwargs`"),
        (lambda p: p["models"]["replay_isolated"].update(colour="red"), "unknown key `models.replay_isolated.colour`"),
        (lambda p: p.update(attempts=[True]), "`attempts`"),
        (lambda p: p.update(agent="fast"), "`agent`"),
        (lambda p: p["validation"].update(timeout="x"), "`validation.timeout`"),
        (lambda p: p["validation"].update(timeout=-5), "`validation.timeout`"),
        (lambda p: p["validation"].update(timeout=float("inf")), "`validation.timeout`"),
        (lambda p: p["validation"].update(timeout=1e308), "`validation.timeout`"),
        (lambda p: p.update(attempts=10**12), "`attempts`"),
    ],
)
def test_bad_params_are_one_line_errors(project, change, message):
    edit_params(project, change)
    try:
        proc = run_tool(project, "lineage")
        assert_one_line_error(proc, "params.yaml", message)
    finally:
        restore(project)


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda p: p.update(backend="cloud"), "error: params.yaml: `backend`"),
        (lambda p: p["models"].update(ghost={"name": "replay/no-such-session"}), "error: replay/no-such-session: no recorded session"),
    ],
)
def test_bad_params_stop_the_pipeline_in_one_line(project, change, message):
    edit_params(project, change)
    try:
        proc = dvc(project, "repro", check=False)
        assert proc.returncode != 0
        assert message in proc.stderr
        assert "Traceback" not in proc.stderr
    finally:
        restore(project)


def test_a_killed_repro_leaves_a_readable_lock_and_redoes_only_what_is_missing(project, tmp_path):
    sessions = project / "dataset" / "miniconf_task" / "task1" / "replays"
    slow = json.loads((sessions / "isolated.traj.json").read_text())
    slow["messages"].insert(2, {"role": "assistant", "content": "wait", "tool_calls": [
        {"id": "w", "type": "function", "function": {"name": "bash", "arguments": json.dumps({"command": SLOW_COMMAND})}}]})
    session = project / "slow.traj.json"  # in the project, outside the task folder every agent stage depends on
    session.write_text(json.dumps(slow))

    def add_slow_model(params):
        params["models"]["replay_slow"] = {"name": f"replay/{session}"}
        params.update(tasks=["miniconf_task/task1"])

    edit_params(project, add_slow_model)
    try:
        dvc(project, "repro", "prompt")  # the prompts of the new task list, so that the kill lands in the agent
        lock_before = (project / "dvc.lock").read_text()
        proc = subprocess.Popen([str(VENV_BIN / "dvc"), "repro", "agent@replay_slow"], cwd=project, start_new_session=True,
                                env={**env(), "PYTHONPATH": str(project / "src")}, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 120
        while SLOW_COMMAND not in subprocess.run(["pgrep", "-af", SLOW_COMMAND], capture_output=True, text=True).stdout:
            assert time.monotonic() < deadline and proc.poll() is None, "the slow stage never started"
            time.sleep(0.2)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        assert yaml.safe_load((project / "dvc.lock").read_text()) == yaml.safe_load(lock_before)
        out = project / "generated" / "agent" / "replay_slow"
        assert not list(out.rglob("outcome.json"))  # nothing half-written
        again = dvc(project, "repro", "agent@replay_slow")
        assert "replay_slow: 2 attempts (2 run now, 0 kept)" in again.stdout
        assert not [p for p in out.rglob("*") if ".tmp-" in p.name]  # the killed run's scratch is gone
    finally:
        restore(project)


def test_promotion_never_overwrites_and_keeps_provenance(project, tmp_path):
    """A pipeline attempt is promoted from its split folder, as the README shows: the model, its
    settings and cost come from its session record, under generated/sessions/."""
    attempt = part("split", "replay_conflicting", 1)
    first = run_tool(project, "promote", str(attempt), "--task", "miniconf_task/task1")
    assert first.returncode == 0, first.stderr
    added = project / "dataset" / "miniconf_task" / "task1" / "feature7"
    assert sorted(p.name for p in added.iterdir()) == ["feature.md", "feature.patch", "provenance.json", "tests.patch"]
    provenance = json.loads((added / "provenance.json").read_text())
    assert provenance["model"] == "replay/conflicting" and provenance["attempt"] == 1 and provenance["replay"]
    assert provenance["cost"] == 0.0 and provenance["settings"]["model"]["step_limit"] == 75 and provenance["key"]
    assert "conflicts with feature2, feature3" in first.stdout
    second = run_tool(project, "promote", str(attempt), "--task", "miniconf_task/task1")
    assert second.returncode == 1 and "a copy of feature7" in second.stderr
    assert not (project / "dataset" / "miniconf_task" / "task1" / "feature8").exists()
    shutil.rmtree(added)


