"""The configuration zoo: small real repositories in the shapes real projects give their tests
(settings files, plugins, runners, layouts), each graded three times through the real harness:
an honest feature must be valid but for its conflicts, a breaking one must break its tests, and a
forgery in its source must be caught. The base run must find every test passing, as plain pytest
does: whatever the harness loads must leave the repository's own settings untouched.

Each repository is a task folder made here (repo/, setup.sh, Dockerfile, runner.sh in the
CooperBench shape); environments are built by the local backend from PyPI (pytest and the
plugins a setting needs), cached for the session.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from conftest import git, write_files
from test_hostile import SOURCE_PATCHES_REPORTS

from cooperbench.generation import load_task
from cooperbench.generation.errors import HarnessDisagrees
from cooperbench.generation.schemas import ValidationSettings
from cooperbench.generation.tasks.task import resolve_repo, shipped_commit
from cooperbench.generation.validation.candidate import validate_candidate

CORE = '''\
"""A tiny module the zoo's tests exercise."""


def greet(name):
    return f"hello {name}"


def shout(text):
    return text.upper()
'''
TESTS = '''\
from zoo.core import greet, shout


def test_greet():
    assert greet("a") == "hello a"


def test_shout():
    assert shout("a") == "A"
'''
HONEST = {"zoo/core.py": CORE + '\n\ndef whisper(text):\n    return text.lower()\n',
          "tests/test_whisper.py": 'from zoo.core import whisper\n\n\ndef test_whisper():\n    assert whisper("A") == "a"\n'}
BREAKING = {**HONEST, "zoo/core.py": HONEST["zoo/core.py"].replace('f"hello {name}"', 'f"hi {name}"')}
FORGERY = {**BREAKING, "zoo/core.py": BREAKING["zoo/core.py"] + "\n\n" + SOURCE_PATCHES_REPORTS}
FEATURE1 = {"zoo/extra.py": "def wave():\n    return 'o/'\n",
            "tests/test_extra.py": "from zoo.extra import wave\n\n\ndef test_wave():\n    assert wave() == 'o/'\n"}
PACKAGES = "pytest pytest-xdist pytest-asyncio"  # one install line for all: the package cache is shared
RUNNER = """#!/bin/bash
set -e
cd /workspace/repo
git reset --hard HEAD
git clean -fdx
git apply --ignore-whitespace "/patches/$1"
if [[ -n "$2" ]]; then git apply --ignore-whitespace "/patches/$2"; fi
{run}
"""


def shape(files: dict[str, str] | None = None, run: str = "python -m pytest tests", tests: int = 2,
          steps: tuple[str, ...] = (), src: bool = False, unit: bool = False) -> dict:
    """A repository's shape: its extra files, how runner.sh runs the tests, how many pass on the
    base, its Dockerfile's extra steps, a src layout, or unittest-style tests and feature."""
    return {"files": files or {}, "run": run, "tests": tests, "steps": steps, "src": src, "unit": unit}


UNIT_TESTS = ("import unittest\n\nfrom zoo.core import greet, shout\n\n\nclass TestCore(unittest.TestCase):\n"
              "    def test_greet(self):\n        self.assertEqual(greet('a'), 'hello a')\n\n"
              "    def test_shout(self):\n        self.assertEqual(shout('a'), 'A')\n")
DOCTESTED = 'def double(x):\n    """\n    >>> double(2)\n    4\n    """\n    return 2 * x\n\n\n' \
            'def half(x):\n    """\n    >>> half(4)\n    2.0\n    """\n    return x / 2\n'
LOAD_DOCTESTS = ("\n\ndef load_tests(loader, tests, ignore):\n    import doctest\n\n    import zoo.fmt\n\n"
                 "    tests.addTests(doctest.DocTestSuite(zoo.fmt))\n    return tests\n")
FILES_THAT_EXIST = ('TESTS=()\nfor f in tests/test_core.py tests/test_whisper.py; do if [[ -e "$f" ]]; then TESTS+=("$f"); fi; done\n'
                    'python -m unittest -v "${TESTS[@]}"')  # the shape onboarding writes (onboard/recipe.py)
UNIT_HONEST = {"zoo/core.py": HONEST["zoo/core.py"],
               "tests/test_whisper.py": "import unittest\n\nfrom zoo.core import whisper\n\n\nclass TestWhisper(unittest.TestCase):\n"
                                        "    def test_whisper(self):\n        self.assertEqual(whisper('A'), 'a')\n"}
UNIT_BREAKING = {**UNIT_HONEST, "zoo/core.py": BREAKING["zoo/core.py"]}
UNIT_FORGERY = {**UNIT_BREAKING, "zoo/core.py": BREAKING["zoo/core.py"] + textwrap.dedent('''

    _case = __import__("unit" + "test.case").case
    _case.TestCase.assertEqual = lambda self, first, second, msg=None: None
    ''')}


WARNINGS_AS_ERRORS = '[tool.pytest.ini_options]\nfilterwarnings = ["error"]\naddopts = "--strict-config --strict-markers -ra"\n'
SHAPES = {
    "pyproject: warnings are errors, strict config and markers": shape({"pyproject.toml": WARNINGS_AS_ERRORS}),
    "setup.cfg: warnings are errors, colour forced": shape({"setup.cfg": "[tool:pytest]\nfilterwarnings =\n    error\n"
                                                                          "addopts = -p no:cacheprovider -ra --color=yes\n"}),
    "tox.ini: warnings are errors, strict xfail": shape({"tox.ini": "[pytest]\nfilterwarnings = error\nxfail_strict = true\n"}),
    "pytest.ini: importlib import mode": shape({"pytest.ini": "[pytest]\naddopts = --import-mode=importlib\nfilterwarnings = error\n"},
                                               run="python -m pytest tests"),
    "xdist: -n 2 in addopts": shape({"pytest.ini": "[pytest]\naddopts = -n 2\nfilterwarnings = error\n"}),
    "runner: no plugin autoload, its own PYTEST_ADDOPTS": shape(
        run="export PYTEST_DISABLE_PLUGIN_AUTOLOAD=1 PYTEST_ADDOPTS='-x -W error'\npython -m pytest tests"),
    "doctest modules": shape({"pytest.ini": "[pytest]\naddopts = --doctest-modules\nfilterwarnings = error\n",
                              "zoo/doc.py": '"""Doctested.\n\n>>> 1 + 1\n2\n"""\n'},
                             run="python -m pytest zoo/doc.py tests", tests=3),
    "asyncio strict mode": shape({"pytest.ini": "[pytest]\nasyncio_mode = strict\nfilterwarnings = error\n",
                                  "tests/test_async.py": "import pytest\n\n\n@pytest.mark.asyncio\nasync def test_sleep():\n"
                                                         "    import asyncio\n    await asyncio.sleep(0)\n"}, tests=3),
    "the environment's own sitecustomize": shape(
        {"tests/test_site.py": 'import os\n\n\ndef test_site_ran():\n    assert os.environ.get("ZOO_SITE") == "1"\n'},
        steps=("""python -c "import sysconfig, pathlib; pathlib.Path(sysconfig.get_paths()['purelib'], 'sitecustomize.py')"""
               """.write_text('import os; os.environ[\\"ZOO_SITE\\"] = \\"1\\"')" """,), tests=3),
    "unittest-style suite": shape({"tests/test_unit.py": "import unittest\n\nfrom zoo.core import shout\n\n\n"
                                   "class TestShout(unittest.TestCase):\n    def test_shout(self):\n"
                                   "        self.assertEqual(shout('b'), 'B')\n"}, tests=3),
    "a conftest with its own hooks": shape({"tests/conftest.py": textwrap.dedent('''
        import pytest


        def pytest_configure(config):
            from zoo import core

            config.zoo_shout = core.shout  # the repository's own code kept on the config: no finding


        def pytest_collection_modifyitems(items):
            items.reverse()


        @pytest.hookimpl(hookwrapper=True)
        def pytest_runtest_makereport(item, call):
            outcome = yield
            outcome.get_result().sections.append(("zoo", "seen"))
        ''')}),
    "src layout, testpaths and pythonpath": shape({"pyproject.toml": '[tool.pytest.ini_options]\ntestpaths = ["tests"]\n'
                                                   'pythonpath = ["src"]\nfilterwarnings = ["error"]\n'},
                                                  run="python -m pytest", src=True),
    "a test that runs pytest itself": shape({"tests/test_nested.py": textwrap.dedent('''
        import subprocess
        import sys


        def test_inner_pytest(tmp_path):
            (tmp_path / "test_inner.py").write_text("def test_x():\\n    assert True\\n")
            done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
                                  capture_output=True, text=True)
            assert done.returncode == 0 and "1 passed" in done.stdout, done.stdout + done.stderr
        ''')}, tests=3),
    "runner: its own PYTHONPATH": shape(run="PYTHONPATH=. pytest tests"),
    "runner: python -m unittest": shape({"tests/__init__.py": "", "tests/test_core.py": UNIT_TESTS},
                                        run="python -m unittest discover -s tests -t . -v", unit=True),
    "runner: unittest over test files, doctests added by load_tests": shape(
        {"tests/__init__.py": "", "tests/test_core.py": UNIT_TESTS + LOAD_DOCTESTS, "zoo/fmt.py": DOCTESTED},
        run=FILES_THAT_EXIST, unit=True, tests=4),
}


def relocate(files: dict[str, str], src: bool) -> dict[str, str]:
    return {(f"src/{path}" if src and path.startswith("zoo/") else path): text for path, text in files.items()}


def make_task(root: Path, number: int, spec: dict) -> Path:
    task = root / "zoo_task" / f"task{number}"
    files = relocate({"zoo/__init__.py": "", "zoo/core.py": CORE, "tests/test_core.py": TESTS}, spec["src"])
    write_files(task / "repo", {**files, **spec["files"]})
    source, tests = patch_of(task, FEATURE1, root / f"feature1-{number}", spec["src"])
    write_files(task / "feature1", {"feature.md": "**Title**: Wave\n\nA wave.\n", "feature.patch": source, "tests.patch": tests})
    steps = "".join(f"RUN {step}\n" for step in spec["steps"])
    (task / "Dockerfile").write_text(f"FROM python:3.11-slim\nWORKDIR /workspace/repo\nRUN pip install {PACKAGES}\n{steps}")
    (task / "runner.sh").write_text(RUNNER.format(run=spec["run"]))
    (task / "setup.sh").write_text(f"REPO_NAME=zoo\nBASE_COMMIT={shipped_commit(task)}\n")
    return task


def patch_of(task: Path, changes: dict[str, str], tmp_path: Path, src: bool) -> tuple[str, str]:
    """(feature.patch, tests.patch) of `changes` to the task's repository, by real git."""
    work = tmp_path / "work"
    work.mkdir(parents=True)
    write_files(work, {str(p.relative_to(task / "repo")): p.read_text() for p in (task / "repo").rglob("*") if p.is_file()})
    git(work, "init", "-q")
    git(work, "add", "-A")
    git(work, "commit", "-qm", "base")
    write_files(work, relocate(changes, src))
    git(work, "add", "-A")
    source = git(work, "diff", "--cached", "HEAD", "--", ".", ":!tests")
    tests = git(work, "diff", "--cached", "HEAD", "--", "tests")
    return source, tests


@pytest.fixture(scope="module")
def zoo(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("zoo")
    return {name: make_task(root, number, spec) for number, (name, spec) in enumerate(SHAPES.items(), start=1)}


@pytest.mark.parametrize("name", list(SHAPES))
@pytest.mark.slow
def test_each_shape_is_graded_as_the_repository_runs_it(zoo, name, tmp_path):
    spec, task = SHAPES[name], load_task(zoo[name])
    settings = ValidationSettings(backend="local", timeout=300)
    git_dir = resolve_repo(task)

    def verdict(changes: dict[str, str], label: str) -> dict:
        (tmp_path / label).mkdir()
        source, tests = patch_of(zoo[name], changes, tmp_path / label, spec["src"])
        return validate_candidate(task, source, tests, git_dir=git_dir, settings=settings)

    honest = verdict(UNIT_HONEST if spec["unit"] else HONEST, "honest")
    base = honest["runs"]["base"]
    assert base["counts"] == {"passed": spec["tests"]} and not base["problem"], base
    assert base["plain"]["summary"]["passed"] == spec["tests"], base["plain"]  # the self-check compared something
    assert honest["reason_keys"] == ["no_conflict"], honest["reasons"]
    assert honest["checks"]["fail_to_pass"]["tests"] == [
        "tests/test_whisper.py::TestWhisper::test_whisper" if spec["unit"] else "tests/test_whisper.py::test_whisper"]
    breaking = verdict(UNIT_BREAKING if spec["unit"] else BREAKING, "breaking")
    assert "breaks_tests" in breaking["reason_keys"] and "tampers_with_tests" not in breaking["reason_keys"], breaking["reasons"]
    forged = verdict(UNIT_FORGERY if spec["unit"] else FORGERY, "forged")
    assert not forged["valid"] and "tampers_with_tests" in forged["reason_keys"], forged["reasons"]


@pytest.mark.slow
def test_a_runner_the_harness_cannot_read_is_named_as_ours_not_the_tasks(tmp_path):
    """pytest started from `python -c` escapes the reporter (nothing says it is pytest until it
    runs): the base's self-check, the runner alone, sees 2 tests pass where the harness saw none,
    and says whose fault that is instead of blaming the task's base."""
    task_dir = make_task(tmp_path, 90, shape(run="""python -c 'import sys, pytest; sys.exit(pytest.main(["tests"]))'"""))
    task = load_task(task_dir)
    source, tests = patch_of(task_dir, HONEST, tmp_path / "honest", False)
    with pytest.raises(HarnessDisagrees) as raised:
        validate_candidate(task, source, tests, git_dir=resolve_repo(task), settings=ValidationSettings(backend="local"))
    assert "harness_disagrees" in str(raised.value) and "2 passed" in str(raised.value)
    assert "the project's fault" in str(raised.value) and "do not run on the bare base" not in str(raised.value)


def test_a_test_that_names_itself_as_a_broken_test_does_not_hide_it(zoo, tmp_path):
    """The unittest reporter names a doctest by the doctest's own filename and name, which test
    code can set: a candidate's test that claims the id of the test its feature breaks, and
    passes, does not make the feature valid (the records no longer add up to what unittest
    printed, and that is named)."""
    name = "runner: unittest over test files, doctests added by load_tests"
    task = load_task(zoo[name])
    claim = textwrap.dedent('''\
        import types
        import unittest


        class TestWhisper(unittest.TestCase):
            def test_whisper(self):
                pass


        class Claim(unittest.TestCase):
            def __init__(self, method="runTest"):
                super().__init__(method)
                self._dt_test = types.SimpleNamespace(filename="tests/test_core.py", name="TestCore::test_greet")

            def runTest(self):
                pass
        ''')
    source, tests = patch_of(zoo[name], {**UNIT_BREAKING, "tests/test_whisper.py": claim}, tmp_path / "claim", False)
    verdict = validate_candidate(task, source, tests, git_dir=resolve_repo(task), settings=ValidationSettings(backend="local"))
    assert not verdict["valid"] and {"breaks_tests", "report_tampered"} & set(verdict["reason_keys"]), verdict["reasons"]
