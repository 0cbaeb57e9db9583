"""Parsing "2h15m30s" into seconds and back."""

import re

UNITS = {
    "h": 3600,
    "m": 60,
    "s": 1,
}
PART_RE = re.compile(r"(\d+)([a-z]+)")
ORDER = sorted(UNITS, key=UNITS.get, reverse=True)


class DurationError(ValueError):
    """The text is not a duration."""


def parse_duration(text):
    """Seconds in `text`: one or more <number><unit> parts, units h, m, s, each at most once."""
    compact = text.strip().lower().replace(" ", "")
    if not compact:
        raise DurationError("empty duration")
    total = 0
    seen = set()
    position = 0
    for match in PART_RE.finditer(compact):
        if match.start() != position:
            raise DurationError(f"unexpected text in {text!r} at {position}")
        number, unit = match.groups()
        if unit not in UNITS:
            raise DurationError(f"unknown unit {unit!r} in {text!r}")
        if unit in seen:
            raise DurationError(f"unit {unit!r} given twice in {text!r}")
        seen.add(unit)
        total += int(number) * UNITS[unit]
        position = match.end()
    if position != len(compact):
        raise DurationError(f"unexpected text in {text!r} at {position}")
    return total


def format_duration(seconds):
    """The shortest text that parse_duration reads back as `seconds`."""
    if seconds < 0:
        raise DurationError("negative durations cannot be formatted")
    if seconds == 0:
        return "0s"
    parts = []
    remaining = int(seconds)
    for unit in ORDER:
        count, remaining = divmod(remaining, UNITS[unit])
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)
