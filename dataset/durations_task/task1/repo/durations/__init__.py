"""durations: parse and format human-written time spans such as "1h30m"."""

from durations.core import DurationError, format_duration, parse_duration

__all__ = ["DurationError", "format_duration", "parse_duration"]
__version__ = "0.2.0"
