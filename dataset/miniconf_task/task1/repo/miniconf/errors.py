"""Exceptions raised by miniconf."""


class ConfigError(Exception):
    """Base class for every miniconf error."""


class ParseError(ConfigError):
    """The text is not valid miniconf syntax."""

    def __init__(self, message, lineno, line):
        super().__init__(f"line {lineno}: {message}: {line!r}")
        self.lineno = lineno
        self.line = line


class MissingKeyError(ConfigError, KeyError):
    """A key was asked for that the section does not have."""

    def __init__(self, section, key):
        super().__init__(f"section [{section}] has no key {key!r}")
        self.section = section
        self.key = key
