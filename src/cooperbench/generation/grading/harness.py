"""The test harness: what decides how tests run and are reported. A candidate may not change it,
and each refusal says what the file is, never that a name merely contains a word.

Refused, in either patch (paths as `diffs.repo_path` reads them):
  - runner and plugin files by what they are: `conftest.py` anywhere, pytest's own settings files
    (`pytest.ini`, `.pytest.ini`, `pytest.toml`, `.pytest.toml`) and tox.ini, runner scripts, JavaScript test-runner configs and package.json, cargo config;
  - interpreter start-up hooks: `sitecustomize`, `usercustomize`, `*.pth`;
  - pytest settings in `pyproject.toml` (`[tool.pytest*]`, a `pytest11` entry point) and
    `setup.cfg` (`[tool:pytest]`, `[pytest]`, a `pytest11` entry point), read by parsing the file
    before and after the patch (TOML and INI escapes decoded), not by searching the text;
  - `pytest_plugins` or a `pytest11` entry point in any Python module the patch adds or changes
    (found in its syntax tree);
  - a module that shadows pytest, its plugin machinery, our reporter or the standard library: a
    top-level module (`X.py` or `X/__init__.py` in a folder that is no package), since test runs
    put such folders first on `sys.path`.
The grading does not rely on these refusals alone (see validator.py): the pass-to-pass run loads
no candidate test code at all.
"""

from __future__ import annotations

import ast
import configparser
import fnmatch
import sys
import tomllib
from pathlib import PurePosixPath
from typing import Callable

from cooperbench.generation.patches import diffs
from cooperbench.generation.util import syntax

HARNESS_NAMES = {
    "conftest.py": "a pytest plugin file", "pytest.ini": "pytest settings", ".pytest.ini": "pytest settings",
    "pytest.toml": "pytest settings", ".pytest.toml": "pytest settings",
    "tox.ini": "pytest and tox settings", "sitecustomize.py": "an interpreter start-up hook",
    "usercustomize.py": "an interpreter start-up hook", "*.pth": "an interpreter start-up hook",
    "runner.sh": "a runner script", "run_tests.sh": "a runner script", "package.json": "test scripts and settings",
    "jest.config.*": "test-runner settings", "jest.setup.*": "test-runner settings",
    "vitest.config.*": "test-runner settings", "vitest.workspace.*": "test-runner settings",
    "vite.config.*": "test-runner settings", "babel.config.*": "test transform settings",
    ".babelrc": "test transform settings", "karma.conf.*": "test-runner settings", ".mocharc*": "test-runner settings",
}
HARNESS_PATHS = {".cargo/config": "cargo settings", ".cargo/config.toml": "cargo settings",
                 "*/.cargo/config": "cargo settings", "*/.cargo/config.toml": "cargo settings"}
# Top-level modules a test run imports before or around the candidate's code.
PYTEST_MODULES = frozenset({"pytest", "_pytest", "py", "pluggy", "iniconfig", "packaging", "exceptiongroup", "tomli"})
REPORTER_PREFIX = "cooperbench"
SHADOWED = PYTEST_MODULES | frozenset(sys.stdlib_module_names)


def harness_changes(patch: str, origin: str, *, base_paths: frozenset[str] = frozenset(),
                    before: Callable[[str], str | None] = lambda path: None,
                    after: Callable[[str], str | None] = lambda path: None) -> list[str]:
    """The harness files a patch changes, each as `path (what it is)`. `base_paths` are the base
    commit's files; `before`/`after` give a file's text at the base and with the patch (None:
    absent or unknown), so settings are compared as parsed, not as text."""
    files = diffs.parse_diff(patch, origin)
    packages = {str(PurePosixPath(p).parent) for p in base_paths if PurePosixPath(p).name == "__init__.py"}
    packages |= {str(PurePosixPath(f.path).parent) for f in files if PurePosixPath(f.path).name == "__init__.py"
                 and f.status != "deleted"}
    found = []
    for file_diff in files:
        for path in filter(None, (file_diff.path, file_diff.old_path)):
            why = what_it_is(path, packages)
            if why is None and path == file_diff.path and file_diff.status != "deleted" and reads_content(path):
                old = before(path) if file_diff.status == "modified" else None
                why = settings_change(path, old, after(path) or added_text(file_diff))
            if why:
                found.append(f"{path} ({why})")
    return list(dict.fromkeys(found))


def what_it_is(path: str, packages: set[str]) -> str | None:
    """Why a path is harness by its place and name alone, or None."""
    pure = PurePosixPath(path)
    for pattern, why in HARNESS_NAMES.items():
        if fnmatch.fnmatchcase(pure.name, pattern):
            return why
    for pattern, why in HARNESS_PATHS.items():
        if fnmatch.fnmatchcase(path, pattern):
            return why
    module, folder = top_level_module(pure)
    if module and folder not in packages:
        if module.startswith(REPORTER_PREFIX):
            return "a module named like the test reporter"
        if module in SHADOWED:
            return f"a top-level module that shadows `{module}`"
    return None


def top_level_module(path: PurePosixPath) -> tuple[str | None, str]:
    """(module name, the folder it would be imported from) for `X.py` and `X/__init__.py`."""
    if path.name == "__init__.py" and len(path.parts) >= 2:
        return path.parent.name, str(path.parent.parent)
    if path.suffix == ".py":
        return path.stem, str(path.parent)
    return None, ""


def reads_content(path: str) -> bool:
    """Whether a file is harness or not by what it holds (so its text is needed): pytest's
    sections of the shared settings files, and Python modules."""
    return PurePosixPath(path).name in SETTINGS_FILES or path.endswith(".py")


def settings_change(path: str, old: str | None, new: str | None) -> str | None:
    """Why a changed file's content is harness: pytest settings or plugins, parsed."""
    name = PurePosixPath(path).name
    if name in SETTINGS_FILES:
        read = SETTINGS_FILES[name]
        return "its pytest settings" if read(old) != read(new) else None
    if new is not None and python_plugin_hooks(new):
        return "it loads pytest plugins"
    return None


def pyproject_pytest(text: str | None) -> object:
    """The pytest-related parts of a pyproject.toml; an unreadable file counts as a change."""
    if text is None:
        return None
    try:
        data = tomllib.loads(text)
    except (tomllib.TOMLDecodeError, ValueError, RecursionError):
        return ("unreadable", text)
    tool = data.get("tool") if isinstance(data.get("tool"), dict) else {}
    project = data.get("project") if isinstance(data.get("project"), dict) else {}
    entry_points = project.get("entry-points") if isinstance(project.get("entry-points"), dict) else {}
    poetry = tool.get("poetry") if isinstance(tool.get("poetry"), dict) else {}
    plugins = poetry.get("plugins") if isinstance(poetry.get("plugins"), dict) else {}
    return ({k: v for k, v in tool.items() if k.lower().startswith("pytest")},
            entry_points.get("pytest11"), plugins.get("pytest11"))


def setup_cfg_pytest(text: str | None) -> object:
    if text is None:
        return None
    parser = configparser.RawConfigParser(strict=False, interpolation=None)
    try:
        parser.read_string(text)
    except (configparser.Error, RecursionError):
        return ("unreadable", text)
    sections = {s: dict(parser[s]) for s in parser.sections() if s.lower() in ("tool:pytest", "pytest")}
    entry_points = parser["options.entry_points"].get("pytest11") if parser.has_section("options.entry_points") else None
    return sections, entry_points


def python_plugin_hooks(text: str) -> bool:
    """Whether a module names `pytest_plugins` or a `pytest11` entry point anywhere in its syntax
    tree (an assignment, a string, an attribute). A module that does not parse loads nothing."""
    try:
        tree = syntax.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id == "pytest_plugins":
            return True
        if isinstance(node, ast.Attribute) and node.attr == "pytest_plugins":
            return True
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.strip() in ("pytest_plugins", "pytest11"):
            return True
    return False


SETTINGS_FILES = {"pyproject.toml": pyproject_pytest, "setup.cfg": setup_cfg_pytest}


def added_text(file_diff: diffs.FileDiff) -> str | None:
    """A new file's text from its hunks (None for other changes: their text needs the base)."""
    if file_diff.status != "added":
        return None
    return "".join(line.value for hunk in file_diff.parsed for line in hunk if not line.is_removed)
