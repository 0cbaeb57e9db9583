"""Turn miniconf text into a Config.

Syntax, one construct a line:

    # a comment            ; also a comment
    [section]
    key = value
    other: value
"""

import re

from miniconf.config import Config
from miniconf.errors import ParseError

SECTION_RE = re.compile(r"^\[(?P<name>[^\]]+)\]$")
COMMENT_PREFIXES = ("#", ";")
DELIMITERS = ("=", ":")


def loads(text):
    """Parse a string and return a Config."""
    config = Config()
    section = config.defaults
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith(COMMENT_PREFIXES):
            continue
        match = SECTION_RE.match(line)
        if match:
            section = config.add_section(_parse_section_name(match.group("name"), lineno, raw))
            continue
        key, value = _parse_assignment(line, lineno, raw)
        section.set(key, value)
    return config


def load(path, encoding="utf-8"):
    """Parse the file at `path`."""
    with open(path, encoding=encoding) as handle:
        return loads(handle.read())


def _parse_section_name(name, lineno, raw):
    name = name.strip()
    if not name:
        raise ParseError("empty section name", lineno, raw)
    return name


def _parse_assignment(line, lineno, raw):
    """Split `key = value` at the first delimiter; both sides are stripped."""
    positions = [line.find(d) for d in DELIMITERS if d in line]
    if not positions:
        raise ParseError("expected 'key = value'", lineno, raw)
    cut = min(positions)
    key = line[:cut].strip()
    value = line[cut + 1 :].strip()
    if not key:
        raise ParseError("missing key", lineno, raw)
    return key, _parse_value(value)


def _parse_value(value):
    """Values are kept as text; only surrounding whitespace is removed."""
    return value
