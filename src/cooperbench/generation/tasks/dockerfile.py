"""What a task's Dockerfile installs, as steps the environment builder can replay.

Only the final stage counts. `RUN` lines become steps with the working directory and the `ENV`
and `ARG` values in force at that point; `COPY`/`ADD` are left out (the task's files reach the
sandbox another way). Each step is also told apart by what it does: fetching the task's
repository (skipped everywhere: the sandbox already has it at the base commit), installing system
packages or only arranging files of the image (only a container does these), or installing the
project's own dependencies.
"""

from __future__ import annotations

import json
import posixpath
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

from cooperbench.generation.errors import GenerationError

REPOSITORY, SYSTEM, LAYOUT, INSTALL = "repository", "system", "layout", "install"
LAYOUT_TOOLS = frozenset({"chmod", "chown", "ln", "rm", "mkdir", "touch", "true"})
SYSTEM_TOOLS = frozenset({"apt-get", "apt", "apk", "yum", "dnf", "microdnf", "zypper"})
REPOSITORY_GIT_COMMANDS = frozenset({"clone", "checkout", "init", "fetch"})
INSTRUCTIONS = frozenset({"FROM", "RUN", "WORKDIR", "ENV", "ARG", "COPY", "ADD", "CMD", "ENTRYPOINT", "EXPOSE", "LABEL",
                          "USER", "VOLUME", "SHELL", "HEALTHCHECK", "STOPSIGNAL", "ONBUILD", "MAINTAINER"})
VARIABLE_RE = re.compile(r"\$(?:\{(\w+)\}|(\w+))")


@dataclass(frozen=True)
class Step:
    """One `RUN` line: its shell text, where and with what environment it ran, and its kind."""

    line: int
    command: str
    workdir: str
    env: tuple[tuple[str, str], ...]
    kind: str

    @property
    def label(self) -> str:
        return f"Dockerfile line {self.line}"


@dataclass(frozen=True)
class Dockerfile:
    base_image: str | None
    steps: tuple[Step, ...]


def parse_dockerfile(path: Path) -> Dockerfile:
    """Read a Dockerfile; a missing file is an empty one."""
    if not path.is_file():
        return Dockerfile(None, ())
    text = path.read_text(encoding="utf-8", errors="replace")
    base, steps = None, []
    workdir, env = "/", {}
    for line, keyword, argument in _instructions(text):
        if keyword not in INSTRUCTIONS:
            raise GenerationError(f"{path}: line {line}: `{keyword}` is no Dockerfile instruction")
        if keyword == "FROM":
            base, steps, workdir, env = argument.split()[0] if argument.split() else None, [], "/", {}
        elif keyword == "WORKDIR":
            workdir = posixpath.normpath(posixpath.join(workdir, _expand(argument.strip(), env)))
        elif keyword in ("ENV", "ARG"):
            for name, value in _assignments(argument, keyword, path, line):
                if keyword == "ENV" or name not in env:
                    env[name] = _expand(value, env)
        elif keyword == "RUN":
            command = _exec_form(argument) or argument
            if command.startswith("<<"):  # `RUN <<EOF` runs the heredoc's body as a script
                command = "\n".join(command.splitlines()[1:-1])
            steps.append(Step(line, command, workdir, tuple(sorted(env.items())), classify(command)))
    return Dockerfile(base, tuple(steps))


def classify(command: str) -> str:
    """What a RUN line does, from the commands it names (not from its whole text)."""
    try:
        words = shlex.split(command, comments=True)
    except ValueError:
        words = command.split()
    commands = _command_words(words)
    if any(w[0] == "git" and len(w) > 1 and w[1] in REPOSITORY_GIT_COMMANDS for w in commands):
        return REPOSITORY
    if any(w[0] in SYSTEM_TOOLS or (w[0] == "sudo" and len(w) > 1 and w[1] in SYSTEM_TOOLS) for w in commands):
        return SYSTEM
    if all(w[0] in LAYOUT_TOOLS for w in commands):
        return LAYOUT
    return INSTALL


def _command_words(words: list[str]) -> list[list[str]]:
    """Split a token list at shell operators into the words of each simple command."""
    commands, current = [], []
    for word in words:
        if word in ("&&", "||", ";", "|", "&"):
            if current:
                commands.append(current)
            current = []
        elif word.endswith(";") and word != ";":
            current.append(word[:-1])
            commands.append(current)
            current = []
        else:
            current.append(word)
    if current:
        commands.append(current)
    # `VAR=value cmd ...` runs cmd
    return [[w for w in c if not re.match(r"^\w+=", w)] or c for c in commands]


HEREDOC_RE = re.compile(r"<<-?\s*[\"']?(\w+)[\"']?")


def _instructions(text: str):
    """(line number, KEYWORD, argument) with continuation lines joined, comments dropped, and a
    heredoc (`RUN <<EOF ... EOF`) kept as part of its instruction."""
    lines = text.splitlines()
    pending, start, index = "", 0, 0
    while index < len(lines):
        number, stripped = index + 1, lines[index].strip()
        index += 1
        if stripped.startswith("#") or (not stripped and pending):
            continue
        if not pending:
            start = number
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        whole = (pending + stripped).strip()
        pending = ""
        if not whole:
            continue
        heredoc = HEREDOC_RE.search(whole)
        if heredoc:
            body = []
            while index < len(lines) and lines[index].strip() != heredoc.group(1):
                body.append(lines[index])
                index += 1
            index += 1
            whole = "\n".join([whole, *body, heredoc.group(1)])
        keyword, _, argument = whole.partition(" ")
        yield start, keyword.upper(), argument.strip()
    if pending.strip():
        keyword, _, argument = pending.strip().partition(" ")
        yield start, keyword.upper(), argument.strip()


def _exec_form(argument: str) -> str | None:
    """`RUN ["a", "b"]` as a shell line."""
    if not argument.startswith("["):
        return None
    try:
        words = json.loads(argument)
    except json.JSONDecodeError:
        return None
    return " ".join(shlex.quote(str(w)) for w in words) if isinstance(words, list) else None


def _assignments(argument: str, keyword: str, path: Path, line: int) -> list[tuple[str, str]]:
    try:
        words = shlex.split(argument)
    except ValueError:
        raise GenerationError(f"{path}: line {line}: unreadable {keyword}") from None
    if keyword == "ENV" and words and "=" not in words[0]:  # legacy `ENV NAME value`
        return [(words[0], " ".join(words[1:]))]
    pairs = []
    for word in words:
        name, sep, value = word.partition("=")
        pairs.append((name, value if sep else ""))
    return pairs


def _expand(value: str, env: dict[str, str]) -> str:
    """Docker's rule: a variable the Dockerfile set expands to its value; one it did not set comes
    from the image's environment (`${PATH}`), so it is kept for `expand_from_image`."""
    return VARIABLE_RE.sub(lambda m: env.get(m.group(1) or m.group(2), m.group(0)), value)


def expand_from_image(env: dict[str, str], image_env: dict[str, str]) -> dict[str, str]:
    """A step's variables with what the Dockerfile left to the image filled in from `image_env`
    (the sandbox's own environment: `ENV PATH=/root/.cargo/bin:${PATH}` keeps the system PATH)."""
    return {name: VARIABLE_RE.sub(lambda m: image_env.get(m.group(1) or m.group(2), ""), value)
            for name, value in env.items()}
