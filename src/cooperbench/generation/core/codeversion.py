"""Which of the package's files a script runs (its import closure, read from the source), and
the code version of a result: a digest of the behaviour of the code that made it.

Every `import` statement counts, module level or inside a function (code a script may run), and
so does the package data a module opens with `files("<package>").joinpath("<path>")`. DVC stages
depend on exactly these files (a test compares them with dvc.yaml).

A result's code version is narrower, so that a change that cannot change a result never redoes
(or re-bills) one: it hashes each Python module's syntax tree without docstrings (so comments,
docstrings and formatting do not count), it follows only the backend the result was made on,
and it leaves out the modules that only keep records (RECORD_KEEPING): what a setting's value is
enters a key as the value, not as the schema's code. The modules that compute keys and code
versions (keys.py, this one) are left out too: a change to what they compute shows in the key
itself, and a refactor that computes the same keys reruns (and re-bills) nothing.

A code version is a function of the package's files and of the Python that parses them, so it is
kept in the cache under a digest of those (`source_digest`): a process reads the package's bytes
(milliseconds) instead of parsing its closure (a second or two, in every stage and CLI process).
"""

from __future__ import annotations

import ast
import hashlib
import re
import sys
from functools import cache
from pathlib import Path

from cooperbench.generation.core.cache import cache_root
from cooperbench.generation.core.contract import BACKENDS, backend_module
from cooperbench.generation.errors import GenerationError
from cooperbench.generation.util import syntax
from cooperbench.generation.util.atomic import write_text

PACKAGE = "cooperbench.generation"
SRC = Path(__file__).resolve().parents[3]  # the folder holding the `cooperbench` package
RECORD_KEEPING = frozenset(f"{PACKAGE}.{name}" for name in (  # where and how records are written, not what is done
    "schemas", "core.cache", "core.layout", "core.provenance", "core.records", "core.keys", "core.codeversion", "util.atomic",
    "util.progress"))


def module_file(name: str) -> Path | None:
    base = SRC.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _parents(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(2, len(parts))]


def package_imports(path: Path) -> tuple[set[str], set[Path]]:
    """(modules of the package that `path` imports, package data it opens)."""
    try:
        tree = syntax.parse(path.read_text(encoding="utf-8"))
    except SyntaxError as exc:
        raise GenerationError(f"{path}: not valid Python (line {exc.lineno}: {exc.msg}); ours to fix") from None
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
def import_closure(script: Path, skip: frozenset[str] = frozenset()) -> tuple[Path, ...]:
    """The package's .py files and data paths that `script` runs, sorted; modules in `skip` (and
    what only they import) left out."""
    seen: set[Path] = set()
    data: set[Path] = set()
    pending = [Path(script).resolve()]
    while pending:
        current = pending.pop()
        modules, opened = package_imports(current)
        data |= opened
        for name in (modules | {p for m in modules for p in _parents(m)}) - skip:
            file = module_file(name)
            if file and file not in seen:
                seen.add(file)
                pending.append(file)
    return tuple(sorted(seen | data))


def closure_files(script: Path, skip: frozenset[str] = frozenset()) -> list[Path]:
    """`script` and the files of its import closure, each folder of package data as its files."""
    return [file for path in [script, *import_closure(script, skip)]
            for file in (sorted(path.rglob("*")) if path.is_dir() else [path])
            if file.is_file() and "__pycache__" not in file.parts]


def behaviour(file: Path) -> bytes:
    """What of a file can change what it does: a Python module's syntax tree without docstrings
    (comments and formatting are not in a tree); any other file's bytes."""
    if file.suffix != ".py":
        return file.read_bytes()
    tree = syntax.parse(file.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and body
                and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)):
            node.body = body[1:] or [ast.Pass()]
    return ast.dump(tree, include_attributes=False).encode()


@cache
def source_digest() -> str:
    """A digest of every file under SRC (path and bytes; bytecode caches aside) and of the Python
    version, whose parser makes the syntax trees: all a code version is made of."""
    digest = hashlib.sha256(f"python {sys.version_info.major}.{sys.version_info.minor}\0".encode())
    for file in sorted(SRC.rglob("*")):
        if file.is_file() and "__pycache__" not in file.parts:
            digest.update(str(file.relative_to(SRC)).encode() + b"\0" + hashlib.sha256(file.read_bytes()).digest())
    return digest.hexdigest()[:32]


VERSION = re.compile(r"[0-9a-f]{16}")


@cache
def code_version(entry: str, backend: str | None = None) -> str:
    """The code version of what module `entry` makes, on `backend` (None: no sandbox). Read once
    per process, as its modules are (a process runs the code it imported), from the cache when
    any process has computed it for these very files."""
    kept = cache_root() / "code-versions" / f"{source_digest()}-{entry}-{backend or 'none'}"
    try:
        version = kept.read_text().strip()
    except OSError:
        version = ""
    if not VERSION.fullmatch(version):
        version = computed_version(entry, backend)
        write_text(kept, version + "\n")
    return version


def computed_version(entry: str, backend: str | None) -> str:
    """The digest of the behaviour of `entry`'s closure, other backends and record keeping aside."""
    other_backends = {backend_module(name) for name in BACKENDS if name != backend}
    script = module_file(entry)
    if script is None:
        raise ValueError(f"no module {entry}")
    digest = hashlib.sha256()
    for file in closure_files(script, frozenset(other_backends | RECORD_KEEPING)):
        digest.update(str(file.relative_to(SRC)).encode() + b"\0")
        digest.update(hashlib.sha256(behaviour(file)).digest())
    return digest.hexdigest()[:16]
