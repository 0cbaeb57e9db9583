"""Turn a Config back into miniconf text."""

from miniconf.config import DEFAULT_SECTION


def dumps(config, delimiter=" = "):
    """Render `config` as text that `loads` parses back to an equal Config."""
    blocks = []
    own_defaults = list(config.defaults.items())
    if own_defaults:
        blocks.append(_render_section(DEFAULT_SECTION, own_defaults, delimiter))
    for name in config.sections():
        section = config[name]
        items = [(key, section.get(key)) for key in section._values]
        blocks.append(_render_section(name, items, delimiter))
    return "\n".join(blocks)


def dump(config, path, delimiter=" = ", encoding="utf-8"):
    """Write `config` to the file at `path`."""
    with open(path, "w", encoding=encoding) as handle:
        handle.write(dumps(config, delimiter=delimiter))


def _render_section(name, items, delimiter):
    lines = [f"[{name}]"]
    for key, value in items:
        lines.append(f"{key}{delimiter}{value}")
    return "\n".join(lines) + "\n"
