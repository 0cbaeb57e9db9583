"""A task's environment derived from the repository's own metadata at the base commit.

What the project itself says wins: tox's test environment (its extras, deps and command) first,
then the packaging metadata (test extras, PEP 735 dependency groups, requirement files named for
tests), then the runner's own configuration (pytest's settings in any of its files, else the
standard library's unittest). Versions are pinned by the date: the environment builder resolves
every Python install as of the base commit's date (tasks/environment.packages_as_of). Only
Python projects are derived; anything else is named as such. Each decision records the file it
came from, so a wrong recipe can be traced to its source.
"""

from __future__ import annotations

import configparser
import re
import shlex
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet

from cooperbench.generation.errors import GenerationError
from cooperbench.generation.patches.gitutil import scratch_repo

TEST_EXTRAS = ("tests", "test", "testing", "dev")  # the names projects give their test extras, preferred first
PYTHONS = ("3.11", "3.12", "3.10", "3.13", "3.9", "3.8")  # the image's Python: the first the project allows
REQUIREMENT_FILE_RE = re.compile(r"(?:^|/)(?:requirements[-_/]?(?:tests?|testing)|tests?[-_]requirements|"
                                 r"requirements[-_/]?dev(?:elop(?:ment)?)?|dev[-_]requirements)\w*\.(?:txt|in)$")
URL_KEYS = ("source", "repository", "code", "homepage")  # project.urls keys, the likeliest clone URL first
PYTEST_FILES = ("pytest.ini", "conftest.py", "tests/conftest.py", "test/conftest.py")


class RecipeFailure(GenerationError):
    """No environment can be derived from the repository's metadata: the repository's shape."""


@dataclass(frozen=True)
class Recipe:
    runner: str  # pytest | unittest
    installs: tuple[str, ...]  # shell lines, in order
    python: str  # the image's Python version
    sources: tuple[str, ...] = field(default=())  # what each decision was read from

    def test_command(self, files: list[str]) -> str:
        """The runner over the task's test files that exist when it runs (a file a feature adds
        is there only with that feature's tests)."""
        run = "python -m pytest -v" if self.runner == "pytest" else "python -m unittest -v"
        listed = " ".join(shlex.quote(f) for f in files)
        return (f'TESTS=()\nfor f in {listed}; do if [[ -e "$f" ]]; then TESTS+=("$f"); fi; done\n'
                f'{run} "${{TESTS[@]}}"')


def metadata(git_dir: Path, commit: str) -> tuple[list[str], dict[str, str]]:
    """The paths near the top of `commit`'s tree and the texts of its metadata files, read
    without a checkout."""
    with scratch_repo(git_dir) as scratch:
        paths = list(_walk(scratch.tree_of(commit)))
        texts = {p: (scratch.read(commit, p) or b"").decode("utf-8", "replace")
                 for p in paths if p in ("pyproject.toml", "setup.cfg", "setup.py", "tox.ini", "pytest.ini")
                 or REQUIREMENT_FILE_RE.search(p)}
    return paths, texts


def derive(git_dir: Path, commit: str) -> Recipe:
    return recipe_of(*metadata(git_dir, commit))


def project_urls(texts: dict[str, str]) -> list[str]:
    """The project's own repository URLs in its metadata (source first), for setup.sh's clone."""
    try:
        urls = dict(tomllib.loads(texts.get("pyproject.toml", "")).get("project", {}).get("urls", {}))
    except tomllib.TOMLDecodeError:
        urls = {}
    setup_cfg = _ini(texts.get("setup.cfg"), "setup.cfg")
    if setup_cfg.has_option("metadata", "url"):
        urls.setdefault("homepage", setup_cfg.get("metadata", "url").strip())
    ranked = sorted(urls.items(), key=lambda item: next((i for i, k in enumerate(URL_KEYS) if k in item[0].lower()), 9))
    return [url for _, url in ranked if isinstance(url, str) and re.match(r"https://(?:github|gitlab|codeberg)\.\w+/[^/]+/[^/]+/?$", url)]


def _walk(tree, prefix: str = "", depth: int = 0):
    for entry in tree:
        path = f"{prefix}{entry.name}"
        if entry.type_str == "tree":
            if depth < 2:  # metadata lives near the top: requirements/, ci/
                yield from _walk(entry, path + "/", depth + 1)
        else:
            yield path


def recipe_of(paths: list[str], texts: dict[str, str]) -> Recipe:
    """The recipe from a tree's paths and the texts of its metadata files."""
    pyproject = _toml(texts.get("pyproject.toml"), "pyproject.toml")
    setup_cfg = _ini(texts.get("setup.cfg"), "setup.cfg")
    tox = _ini(texts.get("tox.ini"), "tox.ini")
    installable = "setup.py" in paths or bool(pyproject.get("build-system") or pyproject.get("project"))
    if not installable and not setup_cfg.has_section("metadata"):
        raise RecipeFailure("no Python project metadata at the base (pyproject.toml, setup.py or setup.cfg): "
                            "onboarding derives Python environments only")
    sources: list[str] = []
    testenv = dict(tox["testenv"]) if tox.has_section("testenv") else {}
    extras = _extras(pyproject, setup_cfg)
    wanted = [e for e in _words(testenv.get("extras", "")) if e in extras] or \
             [next((e for e in TEST_EXTRAS if e in extras), None)]
    wanted = [e for e in wanted if e]
    installs = []
    if installable:
        installs.append(f"pip install -e {shlex.quote('.[' + ','.join(wanted) + ']') if wanted else '.'}")
        sources.append(f"install: editable, extras {wanted or 'none'} (" +
                       ("tox.ini [testenv] extras" if testenv.get("extras") else "package metadata") + ")")
    requirements = _tox_deps(testenv.get("deps", ""))
    if requirements:
        sources.append("test requirements: tox.ini [testenv] deps")
    else:
        group = next((g for g in TEST_EXTRAS if g in pyproject.get("dependency-groups", {})), None)
        if group:
            requirements = [shlex.quote(r) for r in _group(pyproject["dependency-groups"], group)]
            sources.append(f"test requirements: pyproject.toml [dependency-groups] {group}")
        else:
            files = sorted(p for p in paths if REQUIREMENT_FILE_RE.search(p))
            tests_only = [p for p in files if "dev" not in p.rsplit("/", 1)[-1]] or files
            requirements = [f"-r {shlex.quote(p)}" for p in tests_only]
            if requirements:
                sources.append(f"test requirements: {', '.join(tests_only)}")
    if requirements:
        installs.append("pip install " + " ".join(requirements))
    runner, why = _runner(paths, texts, pyproject, setup_cfg, tox, testenv)
    sources.append(f"runner: {runner} ({why})")
    declared = " ".join([*installs, *(texts.get(p, "") for p in paths if REQUIREMENT_FILE_RE.search(p))]).lower()
    if runner == "pytest" and "pytest" not in declared and "pytest" not in " ".join(_all_extras(extras, wanted)).lower():
        installs.append("pip install pytest")
        sources.append("pytest: not among the declared test requirements, installed")
    python, why = _python(pyproject, setup_cfg)
    sources.append(f"python {python} ({why})")
    return Recipe(runner, tuple(installs), python, tuple(sources))


def _toml(text: str | None, name: str) -> dict:
    if not text:
        return {}
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RecipeFailure(f"{name} at the base: not TOML ({exc})") from None


def _ini(text: str | None, name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    if text:
        try:
            parser.read_string(text, name)
        except configparser.Error as exc:
            raise RecipeFailure(f"{name} at the base: unreadable ({str(exc).splitlines()[0]})") from None
    return parser


def _words(text: str) -> list[str]:
    return [w for w in re.split(r"[\s,]+", text) if w]


def _extras(pyproject: dict, setup_cfg: configparser.ConfigParser) -> dict[str, list[str]]:
    extras = dict(pyproject.get("project", {}).get("optional-dependencies", {}))
    poetry = pyproject.get("tool", {}).get("poetry", {}).get("extras", {})
    extras.update({k: v for k, v in poetry.items() if k not in extras})
    if setup_cfg.has_section("options.extras_require"):
        for name, value in setup_cfg["options.extras_require"].items():
            extras.setdefault(name, [line.strip() for line in value.splitlines() if line.strip()])
    return extras


def _all_extras(extras: dict[str, list[str]], wanted: list[str]) -> list[str]:
    return [str(r) for name in wanted for r in extras.get(name, [])]


def _group(groups: dict, name: str, seen: frozenset = frozenset()) -> list[str]:
    """A PEP 735 dependency group's requirements, its `include-group`s expanded."""
    found = []
    for item in groups.get(name, []):
        if isinstance(item, dict) and "include-group" in item and item["include-group"] not in seen:
            found += _group(groups, item["include-group"], seen | {name})
        elif isinstance(item, str):
            found.append(item)
    return found


def _tox_deps(text: str) -> list[str]:
    """tox's `deps` as pip arguments: requirement lines and `-r`/`-c` files; anything tox would
    substitute or that names another environment is left out."""
    kept = []
    for raw in text.splitlines():
        line = raw.split(" #", 1)[0].strip().replace("{toxinidir}/", "").replace("{toxinidir}", ".")
        if not line or "{" in line or line.startswith("#"):
            continue
        if re.match(r"^-[rc]\s*\S+$", line):
            flag, path = line[:2], line[2:].strip()
            kept.append(f"{flag} {shlex.quote(path)}")
            continue
        try:
            Requirement(line)
        except InvalidRequirement:
            continue
        kept.append(shlex.quote(line))
    return kept


def _runner(paths: list[str], texts: dict[str, str], pyproject: dict, setup_cfg: configparser.ConfigParser,
            tox: configparser.ConfigParser, testenv: dict) -> tuple[str, str]:
    command = testenv.get("commands", "")
    if re.search(r"\bpytest\b|\bpy\.test\b", command):
        return "pytest", "tox.ini [testenv] commands"
    if re.search(r"\bunittest\b", command):
        return "unittest", "tox.ini [testenv] commands"
    tool = pyproject.get("tool", {})
    if "pytest" in tool:
        return "pytest", "pyproject.toml [tool.pytest]"
    if setup_cfg.has_section("tool:pytest") or tox.has_section("pytest"):
        return "pytest", "setup.cfg [tool:pytest]" if setup_cfg.has_section("tool:pytest") else "tox.ini [pytest]"
    found = next((p for p in PYTEST_FILES if p in paths), None)
    if found:
        return "pytest", found
    if re.search(r"\bpytest\b", " ".join(texts.values())):
        return "pytest", "pytest among the declared requirements"
    return "unittest", "no pytest configuration or requirement: the standard library's runner"


def _python(pyproject: dict, setup_cfg: configparser.ConfigParser) -> tuple[str, str]:
    spec = pyproject.get("project", {}).get("requires-python")
    if not spec and setup_cfg.has_option("options", "python_requires"):
        spec = setup_cfg.get("options", "python_requires")
    if not spec:
        return PYTHONS[0], "no requires-python: the default"
    try:
        allowed = SpecifierSet(spec)
    except InvalidSpecifier:
        return PYTHONS[0], f"requires-python {spec!r} unreadable: the default"
    for version in PYTHONS:
        if allowed.contains(version + ".0", prereleases=True) or allowed.contains(version, prereleases=True):
            return version, f"requires-python {spec}"
    raise RecipeFailure(f"requires-python {spec!r} at the base allows none of Python {', '.join(PYTHONS)}")
