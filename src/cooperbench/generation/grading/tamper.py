"""The source side of a candidate (or a resolution, or an accepted feature) as hostile code that
runs inside the test process: what is watched while it runs, and what is refused before.

Before any run (pure, from the patch and the base's files):
  - compiled and cache files (`__pycache__/`, `.pyc`, `.pyo`, built extension modules): Python
    may run them instead of the source beside them, so the source the grader reads would not be
    the code that runs;
  - references to the test runner's internals in added source lines (`_pytest`, pytest's hook
    names, the reporter's name, the garbage collector's object lists, trace and audit hooks, the
    interpreter's C API through ctypes) that the file did not already make at the base: a
    repository whose own source is a pytest plugin keeps doing what it did. (A name built at run
    time escapes this screen; the guard sees what the code then does.)
While a run goes (`guard_config`, read by the sandbox's guard and reporter): the source patch's
Python files are watched; what their code does to the test runner is reported as found.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath
from typing import Callable

from cooperbench.generation.patches import diffs

COMPILED_SUFFIXES = (".pyc", ".pyo", ".so", ".pyd", ".dylib", ".dll", ".o", ".a", ".class", ".wasm")
RUNNER_REFERENCES = re.compile(
    r"\b_pytest\b|\bpytest_(?:runtest|report|collect|make|sessionfinish|configure|plugin|addhooks|pyfunc)\w*"
    r"|PYTEST_CURRENT_TEST|cooperbench|\bget_objects\b|\bget_referrers\b|\bget_referents\b|\b_current_frames\b"
    r"|\bsettrace\b|\bsetprofile\b|\baddaudithook\b|\bpythonapi\b|\bPyObj_FromPtr\b",
    re.I,
)


def compiled_files(patch: str, origin: str) -> list[str]:
    """Compiled or cache files a patch adds or changes."""
    found = []
    for f in diffs.parse_diff(patch, origin):
        path = PurePosixPath(f.path)
        if f.status != "deleted" and ("__pycache__" in path.parts or path.name.lower().endswith(COMPILED_SUFFIXES)):
            found.append(f.path)
    return found


def runner_references(patch: str, origin: str, base_file: Callable[[str], str | None],
                      after_file: Callable[[str], str | None] = lambda path: None) -> list[str]:
    """`path: name` for each reference to the test runner's internals that a patch's added
    Python lines make and the file did not make at the base (a binary patch's file is read
    whole, as `after_file` gives it with the patch applied)."""
    found = []
    for f in diffs.parse_diff(patch, origin):
        if f.status == "deleted" or not f.path.endswith((".py", ".pyi", ".pyx")):
            continue
        if f.binary:
            added = after_file(f.path) or "cooperbench: a binary patch of a Python file that cannot be read"
        else:
            added = "\n".join(line.value for hunk in f.parsed for line in hunk if line.is_added)
        names = {m.group(0).lower() for m in RUNNER_REFERENCES.finditer(added)}
        if names and f.status != "added":
            before = {m.group(0).lower() for m in RUNNER_REFERENCES.finditer(base_file(f.old_path or f.path) or "")}
            names -= before
        found += [f"{f.path}: {name}" for name in sorted(names)]
    return found


def screen(patch: str, origin: str, base_file: Callable[[str], str | None],
           after_file: Callable[[str], str | None] = lambda path: None) -> list[tuple[str, str]]:
    """(reason key, sentence) for what the source side of a patch may not hold."""
    reasons = []
    compiled = compiled_files(patch, origin)
    if compiled:
        reasons.append(("compiled_files", f"{origin} ships compiled or cache files, which may run in place of its "
                                          f"source: {', '.join(compiled[:5])}"))
    references = runner_references(patch, origin, base_file, after_file)
    if references:
        reasons.append(("tampers_with_tests", f"{origin}'s source reaches for the test runner's internals: "
                                              f"{', '.join(references[:5])}"))
    return reasons


def guard_config(source_patch: str, origin: str, base_file: Callable[[str], str | None]) -> dict:
    """What the guard watches in a run with this source patch: its Python files, by the ends of
    their paths a process sees (`src/pkg/m.py` is also `pkg/m.py`, as installed); those already
    implementing pytest hooks at the base (the repository is a pytest plugin) may keep doing so."""
    files = [f for f in diffs.parse_diff(source_patch, origin) if f.status != "deleted" and f.path.endswith(".py")]
    allowed = [f.path for f in files if f.status != "added" and "def pytest_" in (base_file(f.old_path or f.path) or "")]
    return {"watch": sorted(set(installed_paths(f.path for f in files))), "hooks_allowed": sorted(set(installed_paths(allowed)))}


def installed_paths(paths) -> list[str]:
    """Each repository path, and the path without a source-layout folder (`src/`, `lib/`)."""
    found = []
    for path in paths:
        found.append(path)
        head, _, rest = path.partition("/")
        if head in ("src", "lib", "python") and rest:
            found.append(rest)
    return found
