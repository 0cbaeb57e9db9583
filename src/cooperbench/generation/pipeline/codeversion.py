"""Which of the package's files a script runs: its import closure, read from the source.

Every `import` statement counts, module level or inside a function (code a script may run), and
so does the package data a module opens with `files("<package>").joinpath("<path>")`. DVC stages
depend on exactly these files (a test compares them with dvc.yaml), and each stage's work records
carry their digest as the code version.
"""

from __future__ import annotations

import ast
import hashlib
from functools import cache
from pathlib import Path

PACKAGE = "cooperbench.generation"
SRC = Path(__file__).resolve().parents[3]  # the folder holding the `cooperbench` package


def module_file(name: str) -> Path | None:
    base = SRC.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _parents(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(2, len(parts))]


def _imports(path: Path) -> tuple[set[str], set[Path]]:
    """(modules of the package that `path` imports, package data it opens)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    modules, data = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules |= {a.name for a in node.names if a.name.startswith(PACKAGE)}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith(PACKAGE) and not node.level:
            modules.add(node.module)
            modules |= {f"{node.module}.{a.name}" for a in node.names if module_file(f"{node.module}.{a.name}")}
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "joinpath":
            opener = node.func.value
            if (isinstance(opener, ast.Call) and getattr(opener.func, "id", None) == "files" and opener.args
                    and isinstance(opener.args[0], ast.Constant) and node.args and isinstance(node.args[0], ast.Constant)):
                data.add(SRC.joinpath(*opener.args[0].value.split("."), node.args[0].value))
    return {m for m in modules if module_file(m)}, data


@cache
def import_closure(script: Path) -> tuple[Path, ...]:
    """The package's .py files and data paths that `script` runs, sorted."""
    seen: set[Path] = set()
    data: set[Path] = set()
    pending = [Path(script).resolve()]
    while pending:
        current = pending.pop()
        modules, opened = _imports(current)
        data |= opened
        for name in modules | {p for m in modules for p in _parents(m)}:
            file = module_file(name)
            if file and file not in seen:
                seen.add(file)
                pending.append(file)
    return tuple(sorted(seen | data))


def code_digest(script: Path) -> str:
    """A hash of every file `script` runs (and the script): the code version of its outputs."""
    digest = hashlib.sha256()
    files = [Path(script).resolve(), *import_closure(script)]
    for path in files:
        for file in sorted(path.rglob("*")) if path.is_dir() else [path]:
            if file.is_file() and "__pycache__" not in file.parts:
                label = file.relative_to(SRC) if file.is_relative_to(SRC) else Path(file.name)
                digest.update(str(label).encode())
                digest.update(hashlib.sha256(file.read_bytes()).digest())
    return digest.hexdigest()[:16]
