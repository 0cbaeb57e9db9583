"""Git diffs as lists of per-file pieces that keep their exact bytes.

unidiff parses each piece (paths, kind of change, hunks); the raw text is kept alongside so a
piece can be written back out unchanged (CRLF, "\\ No newline at end of file", modes, renames).
"""

from __future__ import annotations

import fnmatch
import posixpath
import re
from dataclasses import dataclass
from pathlib import PurePosixPath

from unidiff import PatchedFile, PatchSet
from unidiff.errors import UnidiffParseError

from cooperbench.generation.errors import GenerationError

DIFF_HEADER = "diff --git "
PATCH_LIMIT = 5 * 1024 * 1024  # bytes: an agent's whole diff, or a candidate patch; larger is refused
DEFINITION_RE = re.compile(
    r"^\s*(?:pub(?:\([^)]*\))?\s+)?(?:async\s+)?(?:def|class|func|fn|function|impl|interface|struct|type)\s+"
    r"(?:\([^)]*\)\s*)?(?P<name>[A-Za-z_$][\w$]*)"
)
TEST_TITLE_RE = re.compile(r"""^\s*(?:it|test|describe)(?:\.\w+)*\(\s*(['"`])(?P<name>.+?)\1""")
HEADER_PATHS_RE = re.compile(r"^diff --git (a/.+?) (b/.+?)\s*$")
QUOTED_OR_WORD_RE = re.compile(r'"(?:\\.|[^"\\])*"|\S+')


@dataclass(frozen=True)
class FileDiff:
    """One file's change: its paths, its kind, the parsed hunks and the exact text."""

    path: str
    old_path: str | None
    status: str  # added | deleted | modified | renamed
    binary: bool
    text: str
    parsed: PatchedFile


HUNK_RE = re.compile(r"^@@ -\d+(?:,(\d+))? \+\d+(?:,(\d+))? @@")


def lines(text: str, keepends: bool = False) -> list[str]:
    """A text's lines as git counts them: split on "\n" only (`str.splitlines` also splits on a
    form feed, U+2028, U+0085 and more, which an honest source file may hold inside a line)."""
    parts = text.split("\n")
    if keepends:
        parts = [part + "\n" for part in parts[:-1]] + [parts[-1]]
    elif parts[-1] == "":
        parts.pop()
    return [part for part in parts if part] if keepends else parts


def split_segments(text: str) -> list[str]:
    """Cut a git diff at its `diff --git` lines, keeping every byte of each file's change.

    Text before the first `diff --git` line (the mail headers and diffstat of `git format-patch`
    output) is left out, as `git apply` leaves it; so is the mail text between the commits of a
    series (the signature, the next commit's headers): once a file's hunks have all their lines,
    by the counts in their headers, only another hunk or the next file's header belongs to it.
    Every reader of patches (prompt, splitter, validator, conflicts) goes through here.
    """
    pieces: list[list[str]] = []
    old_left = new_left = 0
    hunks_seen = False
    for line in lines(text, keepends=True):
        if line.startswith(DIFF_HEADER):
            pieces.append([line])
            old_left = new_left = 0
            hunks_seen = False
        elif not pieces:
            continue
        elif old_left > 0 or new_left > 0:
            pieces[-1].append(line)
            if line[:1] == " " or line in ("\n", "\r\n"):  # context (an empty one, as some tools write it)
                old_left, new_left = old_left - 1, new_left - 1
            elif line[:1] == "-":
                old_left -= 1
            elif line[:1] == "+":
                new_left -= 1
        elif match := HUNK_RE.match(line):
            pieces[-1].append(line)
            old_left = int(match.group(1) if match.group(1) is not None else 1)
            new_left = int(match.group(2) if match.group(2) is not None else 1)
            hunks_seen = True
        elif line.startswith("\\") or not hunks_seen:
            pieces[-1].append(line)  # "\ No newline at end of file", or the file's own headers
    return ["".join(piece) for piece in pieces]


def parse_diff(text: str, origin: str) -> list[FileDiff]:
    """Parse a git diff; `origin` (a file name) heads every error message."""
    if not text.strip():
        return []
    segments = split_segments(text)
    if not segments:
        raise GenerationError(f"{origin}: not a git diff (no 'diff --git' header)")
    files = [_parse_segment(segment, origin) for segment in segments]
    return files


def _parse_segment(segment: str, origin: str) -> FileDiff:
    header = lines(segment)[0]
    for raw in _header_paths(header):
        _check_safe(raw, origin)
    for line in lines(segment):
        if line.startswith(("--- ", "+++ ")):
            _check_safe(line[4:].split("\t")[0], origin)
        elif line.startswith(("rename from ", "rename to ", "copy from ", "copy to ")):
            _check_safe(line.split(" ", 2)[2], origin)
        elif line.startswith("@@"):
            break
    try:
        patch = PatchSet(segment)
    except UnidiffParseError as exc:
        raise GenerationError(f"{origin}: malformed patch at '{header}': {exc}") from None
    if len(patch) != 1:
        raise GenerationError(f"{origin}: malformed patch at '{header}'")
    parsed = patch[0]
    if parsed.is_added_file:
        status = "added"
    elif parsed.is_removed_file:
        status = "deleted"
    elif parsed.is_rename:
        status = "renamed"
    else:
        status = "modified"
    old_path = repo_path(parsed.source_file) if status == "renamed" else None
    return FileDiff(repo_path(parsed.path), old_path, status, parsed.is_binary_file, segment, parsed)


def _header_paths(header: str) -> list[str]:
    """The two paths of a `diff --git` line, quoted ones decoded."""
    rest = header[len(DIFF_HEADER):].strip()
    if '"' in rest:
        return QUOTED_OR_WORD_RE.findall(rest)
    match = HEADER_PATHS_RE.match(header.strip())
    return list(match.groups()) if match else rest.split()


def _strip_prefix(path: str) -> str:
    return path[2:] if path[:2] in ("a/", "b/") else path


def unquote(raw: str) -> str:
    """A path as git writes it: C-quoted (`"a/\\303\\251.py"`) when it holds unusual bytes."""
    if not (len(raw) >= 2 and raw[0] == raw[-1] == '"'):
        return raw
    out, i, body = bytearray(), 0, raw[1:-1]
    simple = {"n": 10, "t": 9, '"': 34, "\\": 92, "a": 7, "b": 8, "f": 12, "r": 13, "v": 11}
    while i < len(body):
        char = body[i]
        if char == "\\" and i + 1 < len(body):
            if body[i + 1] in "01234567":
                out.append(int(body[i + 1 : i + 4], 8) & 0xFF)
                i += 4
                continue
            out.append(simple.get(body[i + 1], ord(body[i + 1])))
            i += 2
            continue
        out += char.encode("utf-8", "surrogateescape")
        i += 1
    return out.decode("utf-8", "surrogateescape")


def repo_path(raw: str) -> str:
    """The one reading of a path in a diff that every decision uses (test or source, harness,
    safety): C-quoting decoded, the `a/`/`b/` prefix dropped, `.` and doubled slashes gone."""
    path = _strip_prefix(unquote(raw))
    normal = posixpath.normpath(path) if path else path
    return normal[1:] if normal.startswith("//") else normal


def _check_safe(raw: str | None, origin: str) -> None:
    """A diff may only touch paths inside the repository and outside `.git/`."""
    if not raw or raw == "/dev/null":
        return
    path = unquote(raw)
    if path.startswith("/") or _strip_prefix(path).startswith("/"):
        raise GenerationError(f"{origin}: patch touches an absolute path: {path}")
    parts = PurePosixPath(_strip_prefix(path)).parts
    if ".." in parts:
        raise GenerationError(f"{origin}: patch touches a path outside the repository: {path}")
    if ".git" in [part.lower() for part in parts]:
        raise GenerationError(f"{origin}: patch touches git internals: {path}")


# Test files across the dataset's languages, as globs over the repository-relative path.
DEFAULT_TEST_PATTERNS: tuple[str, ...] = (
    "tests/*", "*/tests/*", "test/*", "*/test/*",  # Python, Rust and general test folders
    "test_*.py", "*/test_*.py", "*_test.py", "tests.py", "*/tests.py",  # Python
    "conftest.py", "*/conftest.py",
    "*_test.go", "testdata/*", "*/testdata/*",  # Go
    "*.test.*", "*.spec.*", "__tests__/*", "*/__tests__/*",  # JS / TS
)


def is_test_path(path: str, patterns: tuple[str, ...] = DEFAULT_TEST_PATTERNS) -> bool:
    """True when `path` is a test file under `patterns` (fnmatch globs; `*` crosses `/`)."""
    return any(fnmatch.fnmatchcase(path, pattern) for pattern in patterns)


def join(files: list[FileDiff]) -> str:
    """Reassemble pieces into one patch."""
    return "".join(f.text for f in files)


def parts(files: list[FileDiff]) -> list[tuple[str, str, str]]:
    """A patch's parts, each as (its name, its file's path, the patch without it): its files when
    it has several, else its one file's hunks when that has several (a patch of one part has none
    to leave out)."""
    if len(files) > 1:
        return [(f.path, f.path, join(files[:i] + files[i + 1:])) for i, f in enumerate(files)]
    if not files or files[0].binary:
        return []
    pieces = re.split(r"(?m)^(?=@@ )", files[0].text)  # the header, then one piece per hunk
    header, hunks = pieces[0], pieces[1:]
    if len(hunks) < 2:
        return []
    path = files[0].path
    return [(f"{path} hunk {i + 1} of {len(hunks)}", path, header + "".join(hunks[:i] + hunks[i + 1:]))
            for i in range(len(hunks))]


def definition_name(line: str | None) -> str | None:
    """The name a line defines (`def f`, `class C`, `func F`, `fn f`, a jest/vitest `it('title'`,
    ...), or None."""
    match = DEFINITION_RE.match(line or "") or TEST_TITLE_RE.match(line or "")
    return match.group("name") if match else None


def touched_definitions(file_diff: FileDiff, base_lines: list[str] | None = None) -> set[str]:
    """Names of the definitions a file's change adds, removes or edits.

    A changed line counts for the definition it sits in, unless it comes after a definition line
    of its own run (then it belongs to that new definition). Changed decorator lines (`@...`, and
    the lines of a decorator's open brackets) belong to the definition they decorate, the next
    one, changed or not: a test added with `@pytest.mark.parametrize(...)` right after another
    test edits only itself. Where a hunk starts inside a definition, the base file (`base_lines`,
    when given) says which one: git's hunk header names only the outermost (a jest `describe`, a
    Python class), which would take in all its tests.
    """
    names: set[str] = set()
    for hunk in file_diff.parsed:
        enclosing = definition_name(hunk.section_header)
        if base_lines:
            enclosing = _enclosing(base_lines, hunk.source_start - 1) or enclosing
        before_own_definition, decorating, depth = True, False, 0
        for line in hunk:
            name = definition_name(line.value)
            stripped = line.value.strip()
            if line.is_context:
                if decorating and (name or not stripped.startswith("@")):
                    names.update(filter(None, [name or enclosing]))
                    decorating = False
                enclosing = name or enclosing
                before_own_definition = True
                continue
            if not (line.is_added or line.is_removed):  # "\ No newline at end of file"
                continue
            if name:
                names.add(name)
                before_own_definition, decorating = False, False
            elif stripped.startswith("@") or depth > 0:
                decorating = True
                depth = max(0, depth + sum(stripped.count(c) for c in "([{") - sum(stripped.count(c) for c in ")]}"))
            elif before_own_definition and stripped and enclosing:
                names.add(enclosing)
        if decorating and enclosing:
            names.add(enclosing)
    return names


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _enclosing(lines: list[str], index: int) -> str | None:
    """The innermost definition around line `index` (0-based) of a file: the nearest definition
    line above it that is indented less than the first non-blank line from there on."""
    at = next((i for i in range(index, len(lines)) if lines[i].strip()), None)
    if at is None:
        return None
    depth = _indent(lines[at])
    for i in range(at - 1, -1, -1):
        name = definition_name(lines[i])
        if name and _indent(lines[i]) < depth:
            return name
    return None
