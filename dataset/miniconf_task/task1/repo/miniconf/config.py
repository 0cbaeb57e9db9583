"""In-memory model of a parsed configuration."""

from miniconf.errors import ConfigError, MissingKeyError

DEFAULT_SECTION = "DEFAULT"


class Section:
    """An ordered mapping of keys to string values, with a fallback section."""

    def __init__(self, name, defaults=None):
        self.name = name
        self._values = {}
        self._defaults = defaults

    def __contains__(self, key):
        return self._normalize(key) in self._values or (
            self._defaults is not None and key in self._defaults
        )

    def __getitem__(self, key):
        return self.get(key)

    def __setitem__(self, key, value):
        self.set(key, value)

    def __iter__(self):
        return iter(self.keys())

    def __len__(self):
        return len(self.keys())

    def __repr__(self):
        return f"Section({self.name!r}, {dict(self.items())!r})"

    @staticmethod
    def _normalize(key):
        return key.strip()

    def keys(self):
        """Own keys first, in insertion order, then inherited defaults."""
        own = list(self._values)
        if self._defaults is not None:
            own += [key for key in self._defaults.keys() if key not in self._values]
        return own

    def items(self):
        return [(key, self.get(key)) for key in self.keys()]

    def set(self, key, value):
        if not isinstance(value, str):
            raise ConfigError(f"value for {key!r} must be a string, got {type(value).__name__}")
        self._values[self._normalize(key)] = value

    def get(self, key, fallback=None):
        """Return the value of `key`, looking in the defaults when absent."""
        key = self._normalize(key)
        if key in self._values:
            return self._values[key]
        if self._defaults is not None and key in self._defaults:
            return self._defaults.get(key)
        if fallback is not None:
            return fallback
        raise MissingKeyError(self.name, key)

    def remove(self, key):
        """Remove an own key; inherited defaults cannot be removed here."""
        key = self._normalize(key)
        if key not in self._values:
            raise MissingKeyError(self.name, key)
        del self._values[key]


class Config:
    """A whole configuration: named sections plus the shared DEFAULT section."""

    def __init__(self):
        self.defaults = Section(DEFAULT_SECTION)
        self._sections = {}

    def __contains__(self, name):
        return name in self._sections

    def __getitem__(self, name):
        if name == DEFAULT_SECTION:
            return self.defaults
        try:
            return self._sections[name]
        except KeyError:
            raise ConfigError(f"no section named [{name}]") from None

    def __iter__(self):
        return iter(self._sections)

    def __len__(self):
        return len(self._sections)

    def sections(self):
        return list(self._sections)

    def add_section(self, name):
        """Create a section, or return the existing one of that name."""
        if name == DEFAULT_SECTION:
            return self.defaults
        if name not in self._sections:
            self._sections[name] = Section(name, defaults=self.defaults)
        return self._sections[name]

    def remove_section(self, name):
        if name not in self._sections:
            raise ConfigError(f"no section named [{name}]")
        del self._sections[name]

    def get(self, section, key, fallback=None):
        """Shortcut for ``config[section].get(key, fallback)``."""
        return self[section].get(key, fallback)

    def to_dict(self):
        """Plain nested dicts, defaults merged into every section."""
        return {name: dict(section.items()) for name, section in self._sections.items()}
