"""miniconf: a small INI-style configuration parser and writer."""

from miniconf.config import Config, Section
from miniconf.errors import ConfigError, ParseError
from miniconf.parser import loads, load
from miniconf.writer import dumps, dump

__all__ = [
    "Config",
    "ConfigError",
    "ParseError",
    "Section",
    "dump",
    "dumps",
    "load",
    "loads",
]
__version__ = "0.3.0"
