"""Onboarding: tasks from a repository's history, for real.

A history is made here with real git in the shape real projects give theirs (pull requests merged
with merge commits, two of them written at the same time against the same lines, a squash merge,
a bot's, a release's, a docs-only and a test-less change), with pytest settings that turn
warnings into errors. It is mined, grouped, given an environment derived from its own metadata,
and every feature is proven by the grader and by the runner alone; the tasks it writes are then
read by `check-dataset` as they are, and the DVC pipeline grows one with a replayed agent.
The two public histories in ../shared/history are onboarded too (slow tier).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import ROOT, git, run_cli, write_files

from cooperbench.generation.onboard.mine import DROPS, mine
from cooperbench.generation.onboard.recipe import RecipeFailure, recipe_of
from cooperbench.generation.schemas import OnboardLimits

pytestmark = pytest.mark.xdist_group("onboard")  # its module fixtures (a history, a task) built once

PYPROJECT = """\
[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "calc"
version = "0.1"
requires-python = ">=3.8"

[project.optional-dependencies]
tests = ["pytest"]

[project.urls]
Source = "https://github.com/example/calc"

[tool.setuptools]
packages = ["calc"]

[tool.pytest.ini_options]
filterwarnings = ["error"]
addopts = "--strict-markers"
"""
OPS = '''\
"""Arithmetic."""


def add(a, b):
    return a + b


def sub(a, b):
    return a - b
'''
TESTS = '''\
from calc.ops import add, sub


def test_add():
    assert add(1, 2) == 3


def test_sub():
    assert sub(3, 1) == 2
'''


def appended(text: str, addition: str) -> str:
    return text + "\n\n" + addition


def merge_pr(repo: Path, number: int, branch: str, files: dict[str, str], *, title: str, author: str = "dev",
             fork: str = "main") -> None:
    """A pull request: a branch off `fork` with one commit, merged into main with a merge commit
    (`Merge pull request #N from ...`); a conflict at the merge is resolved by keeping both sides."""
    git(repo, "checkout", "-q", "-b", branch, fork)
    write_files(repo, files)
    git(repo, "add", "-A")
    git(repo, "-c", f"user.name={author}", "commit", "-qm", title, "--author", f"{author} <{author}@example.com>")
    git(repo, "checkout", "-q", "main")
    message = f"Merge pull request #{number} from example/{branch}\n\n{title}"
    try:
        git(repo, "merge", "--no-ff", "-q", "-m", message, branch)
    except Exception:  # both sides appended at the end: keep both
        for path in files:
            text = (repo / path).read_text()
            kept = [line for line in text.splitlines(keepends=True)
                    if not line.startswith(("<<<<<<<", "=======", ">>>>>>>"))]
            (repo / path).write_text("".join(kept))
        git(repo, "add", "-A")
        git(repo, "commit", "-qm", message)


def squash(repo: Path, number: int, files: dict[str, str], title: str) -> None:
    write_files(repo, files)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", f"{title} (#{number})")


MUL = "def mul(a, b):\n    return a * b\n"
DIV = "def div(a, b):\n    if b == 0:\n        raise ZeroDivisionError('b is 0')\n    return a / b\n"
MUL_TEST = "def test_mul():\n    from calc.ops import mul\n\n    assert mul(2, 3) == 6\n"
DIV_TEST = ("def test_div():\n    import pytest\n\n    from calc.ops import div\n\n    assert div(6, 3) == 2\n"
            "    with pytest.raises(ZeroDivisionError):\n        div(1, 0)\n")


def make_history(repo: Path) -> Path:
    repo.mkdir(parents=True)
    git(repo, "init", "-q", "-b", "main")
    write_files(repo, {"pyproject.toml": PYPROJECT, "calc/__init__.py": "", "calc/ops.py": OPS,
                       "tests/test_ops.py": TESTS, "README.md": "# calc\n"})
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "Initial commit")
    fork = git(repo, "rev-parse", "HEAD").strip()
    # two pull requests written at the same time, both appending to the module and its tests
    merge_pr(repo, 1, "mul", {"calc/ops.py": appended(OPS, MUL), "tests/test_ops.py": appended(TESTS, MUL_TEST)},
             title="Add mul")
    merge_pr(repo, 2, "div", {"calc/ops.py": appended(OPS, DIV), "tests/test_ops.py": appended(TESTS, DIV_TEST)},
             title="Add div, refusing zero", fork=fork)
    ops = (repo / "calc/ops.py").read_text()
    merge_pr(repo, 3, "add-many", {
        "calc/ops.py": ops.replace("def add(a, b):\n    return a + b", "def add(*numbers):\n    return sum(numbers)"),
        "tests/test_add.py": "from calc.ops import add\n\n\ndef test_add_many():\n    assert add(1, 2, 3) == 6\n"},
        title="add() takes any number of numbers")
    merge_pr(repo, 4, "dependabot/pip/pytest-8", {"requirements-dev.txt": "pytest==8.0\n"},
             title="Bump pytest from 7 to 8", author="dependabot[bot]")
    merge_pr(repo, 5, "docs", {"README.md": "# calc\n\nArithmetic.\n"}, title="Document calc")
    merge_pr(repo, 6, "release-0.2", {"calc/__init__.py": "__version__ = '0.2'\n"}, title="Release 0.2")
    ops = (repo / "calc/ops.py").read_text()
    merge_pr(repo, 7, "sub-doc", {"calc/ops.py": ops.replace("def sub(a, b):\n", "def sub(a, b):\n    \"\"\"a - b\"\"\"\n"),
                                  "tests/test_sub.py": "from calc.ops import sub\n\n\ndef test_sub_negative():\n"
                                                       "    assert sub(1, 3) == -2\n"},
             title="Document sub, test a negative result")  # its test passes without it: not a feature
    squash(repo, 8, {"calc/unary.py": "def neg(a):\n    return -a\n",
                     "tests/test_unary.py": "from calc.unary import neg\n\n\ndef test_neg():\n    assert neg(2) == -2\n"},
           "Add neg")
    squash(repo, 9, {"calc/ops.py": appended((repo / "calc/ops.py").read_text(), "def ident(a):\n    return a\n")}, "Add ident")
    return repo


@pytest.fixture(scope="module")
def history(tmp_path_factory) -> Path:
    return make_history(tmp_path_factory.mktemp("history") / "calc")


def test_mining_keeps_merged_changes_with_source_and_tests_and_says_why_it_drops_the_rest(history):
    funnel = mine(history / ".git", OnboardLimits())
    titles = [c.title for c in funnel.candidates]
    assert titles == ["Add mul", "Add div, refusing zero", "add() takes any number of numbers",
                      "Document sub, test a negative result", "Add neg"]
    assert [c.pr for c in funnel.candidates] == [1, 2, 3, 7, 8]
    counts = {name: len(found) for name, found in funnel.dropped.items()}
    assert set(counts) == set(DROPS)
    assert counts["bot"] == 1 and counts["release"] == 1 and counts["no_code"] == 1 and counts["no_tests"] == 1
    assert funnel.changes == sum(counts.values()) + len(funnel.candidates)
    report = funnel.to_dict()
    assert report["dropped"]["bot"]["examples"][0].endswith("Merge pull request #4 from example/dependabot/pip/pytest-8")


def test_limits_drop_a_change_too_large(history):
    funnel = mine(history / ".git", OnboardLimits(max_source_lines=3))
    assert [c.pr for c in funnel.candidates] == [7, 8] and len(funnel.dropped["too_large"]) == 3


@pytest.mark.parametrize("paths, texts, runner, installs", [
    (["pyproject.toml", "tox.ini"], {"pyproject.toml": '[project]\nname="x"\n[project.optional-dependencies]\ntest=["pytest"]\n',
                                     "tox.ini": "[testenv]\nextras = test\ndeps = -r requirements/ci.txt\n  freezegun>=1\ncommands = pytest {posargs}\n"},
     "pytest", ("pip install -e '.[test]'", "pip install -r requirements/ci.txt 'freezegun>=1'")),
    (["setup.py", "setup.cfg", "tests/test_a.py"], {"setup.cfg": "[metadata]\nname = x\n[options.extras_require]\ntesting = nose\n"},
     "unittest", ("pip install -e '.[testing]'",)),
    (["pyproject.toml"], {"pyproject.toml": '[project]\nname="x"\n[dependency-groups]\ntest=["pytest>=8", {include-group="typing"}]\n'
                                            'typing=["mypy"]\n[tool.pytest]\nfilterwarnings=["error"]\n'},
     "pytest", ("pip install -e .", "pip install 'pytest>=8' mypy")),
    (["setup.py", "requirements/test.txt", "requirements/dev.txt", "conftest.py"], {"requirements/test.txt": "hypothesis\n"},
     "pytest", ("pip install -e .", "pip install -r requirements/test.txt", "pip install pytest")),
    (["pyproject.toml"], {"pyproject.toml": '[build-system]\nrequires=["flit_core"]\n'}, "unittest", ("pip install -e .",)),
])
def test_the_recipe_follows_what_the_project_says(paths, texts, runner, installs):
    recipe = recipe_of(paths, texts)
    assert (recipe.runner, recipe.installs) == (runner, installs), recipe.sources


def test_a_repository_with_no_python_metadata_is_named():
    with pytest.raises(RecipeFailure, match="no Python project metadata"):
        recipe_of(["package.json", "index.js"], {})
    with pytest.raises(RecipeFailure, match="allows none of Python"):
        recipe_of(["pyproject.toml"], {"pyproject.toml": '[project]\nname="x"\nrequires-python="<3"\n'})


@pytest.fixture(scope="module")
def onboarded(history, tmp_path_factory) -> tuple[Path, dict, str]:
    out = tmp_path_factory.mktemp("onboarded")
    cache = tmp_path_factory.getbasetemp() / "cache"  # the session's (conftest.isolated_cache)
    proc = run_cli("onboard", str(history), "--out", str(out), "--max-tasks", "1", COOPERBENCH_CACHE=str(cache))
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out, json.loads((out / "calc_task" / "onboard-report.json").read_text()), proc.stdout


@pytest.mark.slow
def test_onboarding_writes_a_task_of_proven_real_features_that_conflict(onboarded, history):
    out, report, printed = onboarded
    assert report["tasks"] == ["calc_task/task1"], report["groups"]
    task = out / "calc_task" / "task1"
    record = json.loads((task / "onboard.json").read_text())
    proofs = {p["feature"]: p for p in record["proofs"]}
    assert len(proofs) == 4 and all(p["proven"] and p["fail_to_pass"] for p in proofs.values())
    assert all(p["independent"]["ok"] and p["independent"]["before"]["exit_code"] != 0 for p in proofs.values())
    titles = [json.loads((task / f"feature{k}" / "provenance.json").read_text())["title"] for k in proofs]
    assert titles == ["Add mul", "Add div, refusing zero", "add() takes any number of numbers", "Add neg"]
    dropped = record["dropped"]
    assert [d["pull_request"] for d in dropped] == [7] and "no fail-to-pass" in dropped[0]["why"]
    assert [1, 2] in report["groups"][0]["conflicting_pairs"]  # mul and div, written at the same time
    first = json.loads((task / "feature1" / "provenance.json").read_text())
    assert first["pull_request"] == 1 and first["patch"] == "authored" and first["repository"] == "https://github.com/example/calc"
    assert "**Title**: Add mul" in (task / "feature1" / "feature.md").read_text()
    assert "filterwarnings" not in (task / "runner.sh").read_text()  # the project's settings stay the project's
    assert "| packaging |" in printed and "calc_task/task1" in printed


@pytest.mark.slow
def test_check_dataset_accepts_the_onboarded_task_as_it_is(onboarded, history, isolated_cache):
    out, _, _ = onboarded
    proc = run_cli("check-dataset", str(out), "--repos", str(history.parent), "--require", "conflict",
                   COOPERBENCH_CACHE=str(isolated_cache))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "4 features: 2 valid, 2 invalid, 0 environment" in proc.stdout
    invalid = [line for line in proc.stdout.splitlines() if "| invalid |" in line]
    assert all(line.endswith("| conflicts with no existing feature |") for line in invalid), invalid  # the seed's rule only
    listed = run_cli("tasks", str(out), "--check", "--repos", str(history.parent), COOPERBENCH_CACHE=str(isolated_cache))
    assert listed.returncode == 0, listed.stderr


def test_onboarding_never_replaces_a_task_it_did_not_write(history, tmp_path):
    """One group tried (onboard.tries, which the CLI leaves at its default): the one whose folder
    is the user's; the groups after it would be proven for nothing here."""
    from cooperbench.generation.onboard.repository import Onboarding, onboard
    from cooperbench.generation.schemas import OnboardParams, ValidationSettings

    mine_folder = tmp_path / "calc_task" / "task1"
    write_files(mine_folder, {"feature1/feature.md": "mine\n"})
    onboard(Onboarding(history, tmp_path, OnboardParams(max_tasks=1, tries=1), ValidationSettings.of()), print)
    assert (mine_folder / "feature1" / "feature.md").read_text() == "mine\n"
    report = json.loads((tmp_path / "calc_task" / "onboard-report.json").read_text())
    assert "was not written by onboarding" in report["groups"][0]["why"] and len(report["groups"]) == 1
    assert not list(tmp_path.glob(".onboard-staging-*")), "staging left behind"


ORDER_DEPENDENT = ["", "", "SEEN = []"] + [line for i in range(5) for line in ("", "", f"def test_seen_{i}():",
                                                                       f"    SEEN.append({i})")] + [
    "", "", "def test_max_parts_after_the_others():", "    assert len(SEEN) == 5, 'passes only after the five tests above'",
    "    assert format_duration(8130, max_parts=1) == '2h'"]


@pytest.mark.slow
def test_a_proof_reruns_a_feature_that_conflicts_with_none(tmp_path):
    """The demo's durations feature 4 conflicts with no other feature, which a real feature may;
    its tests made order-dependent, the proof's reruns in shuffled orders still catch them: not
    proven (a grader that reran only candidates valid so far, conflict included, proved it)."""
    from cooperbench.generation.onboard.prove import prove_task
    from cooperbench.generation.schemas import ValidationSettings
    from cooperbench.generation.tasks.task import load_task, resolve_repo

    folder = tmp_path / "dataset" / "durations_task" / "task1"
    shutil.copytree(ROOT / "dataset" / "durations_task" / "task1", folder)
    tests = folder / "feature4" / "tests.patch"
    assert "@@ -30,3 +30,13 @@" in tests.read_text()
    tests.write_text(tests.read_text().replace("@@ -30,3 +30,13 @@", f"@@ -30,3 +30,{13 + len(ORDER_DEPENDENT)} @@")
                     + "".join(f"+{line}\n" for line in ORDER_DEPENDENT))
    task = load_task(folder)
    proofs = {p.feature: p for p in prove_task(task, resolve_repo(task), ValidationSettings.of())}
    assert proofs[1].proven and proofs[2].proven  # and 3 breaks a test of the base (test_validator.py says why)
    assert not proofs[4].valid and proofs[4].reasons[0].startswith("fail-to-pass tests are flaky"), proofs[4].reasons
    assert "test_max_parts_after_the_others" in proofs[4].reasons[0]


def test_a_bad_source_is_one_line(tmp_path):
    from conftest import assert_one_line_error

    assert_one_line_error(run_cli("onboard", str(tmp_path / "nope"), "--out", str(tmp_path)), "no such repository or bundle")
    (tmp_path / "junk.bundle").write_text("not a bundle")
    assert_one_line_error(run_cli("onboard", str(tmp_path / "junk.bundle"), "--out", str(tmp_path)), "not a git bundle")
    (tmp_path / "a-file").write_text("")
    assert_one_line_error(run_cli("onboard", str(tmp_path), "--out", str(tmp_path / "a-file")), "a-file: not a folder")


# ---------------------------------------------------------------- the pipeline


TRAJECTORY_NOTE = "A scripted session for the onboarding test's calc history: adds pow with a test at the module's end."


def replay_session() -> dict:
    """A scripted session (mini-swe-agent's format) that writes a feature into calc."""
    commands = [
        "printf '\\n\\ndef power(a, b):\\n    return a ** b\\n' >> calc/ops.py",
        "printf '\\n\\ndef test_power():\\n    from calc.ops import power\\n\\n    assert power(2, 3) == 8\\n' >> tests/test_ops.py",
        "printf '**Title**: power\\n\\n**Description**: `power(a, b)` is a to the b.\\n' > .feature_description.md",
        "echo COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT && git add -A && git diff --cached",
    ]
    messages = [{"role": "system", "content": "(system)"}, {"role": "user", "content": "(task)"}]
    for k, command in enumerate(commands, 1):
        messages.append({"role": "assistant", "content": f"step {k}",
                         "tool_calls": [{"id": f"call_{k}", "type": "function",
                                         "function": {"name": "bash", "arguments": json.dumps({"command": command})}}],
                         "extra": {"actions": [{"command": command, "tool_call_id": f"call_{k}"}]}})
    return {"trajectory_format": "mini-swe-agent-1.1", "messages": messages,
            "info": {"exit_status": "Submitted", "scripted": True, "note": TRAJECTORY_NOTE}}


@pytest.mark.dvc
@pytest.mark.slow
def test_dvc_repro_onboards_grows_and_validates_in_one_run(history, tmp_path):
    from dvcproject import dvc, edit_params, project_copy, ran

    project = project_copy(tmp_path / "work")
    (project / "replays").mkdir()
    (project / "replays" / "calc.traj.json").write_text(json.dumps(replay_session()))

    def params(p: dict) -> None:
        p.update(tasks=[], attempts=1, models={"replay_calc": {"name": "replay/replays/calc.traj.json"}})
        p["judge"]["model"], p["coop"]["solvers"] = None, {}  # no judge or team session is recorded for calc
        p["onboard"] = {"repos": {"calc": {"path": str(history)}}, "grow": True, "max_tasks": 1, "min_features": 2,
                        "max_features": 5}
    edit_params(project, params)
    first = dvc(project, "repro")
    assert {"onboard", "prompt", "agent@replay_calc", "validate@replay_calc"} <= set(ran(first)), first.stdout
    verdict = json.loads((project / "generated/verdicts/replay_calc/calc_task/task1/attempt1/verdict.json").read_text())
    assert verdict["checks"]["fail_to_pass"]["tests"] == ["tests/test_ops.py::test_power"], verdict["reasons"]
    assert verdict["conflict_result"]["conflicts"], verdict  # power meets the features appended at the module's end
    lock = (project / "dvc.lock").read_text()
    assert "generated/onboard" in lock and "onboard.repos" in lock
    again = dvc(project, "repro")
    assert ran(again) == [], again.stdout
    shutil.rmtree(project / "replays")


# ---------------------------------------------------------------- real histories (../shared/history)


@pytest.mark.parametrize("bundle", ["humanize", "more-itertools"])
@pytest.mark.slow
def test_a_real_history_gives_a_task_whose_every_feature_is_proven(real_history, bundle, tmp_path, isolated_cache):
    proc = run_cli("onboard", str(real_history / f"{bundle}.bundle"), "--out", str(tmp_path), "--max-tasks", "1",
                   COOPERBENCH_CACHE=str(isolated_cache))
    assert proc.returncode == 0, proc.stderr[-3000:]
    name = bundle.replace("-", "_")
    report = json.loads((tmp_path / f"{name}_task" / "onboard-report.json").read_text())
    assert report["funnel"]["candidates"] > 20
    [task] = report["tasks"]
    record = json.loads((tmp_path / task / "onboard.json").read_text())
    assert len(record["proofs"]) >= 2 and all(p["proven"] for p in record["proofs"])
    assert all(p["independent"]["ok"] for p in record["proofs"])
