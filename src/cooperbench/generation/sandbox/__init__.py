"""Sandboxes: one interface (`base.Sandbox`), one contract of places (`contract`), and the
registry of backends below, which the settings schema, the CLI and `backends.open_sandbox` read.

Backend `<name>` is the module `<name>_backend` of this package. Nothing here imports one, so
naming a backend (in a setting, say) never loads or depends on any backend's code.
"""

BACKENDS = {  # name -> what it is, for people
    "local": "bubblewrap on this machine (the offline default)",
    "docker": "a container per sandbox, through the Docker daemon",
    "modal": "a Modal sandbox per run, in the cloud (needs a Modal token)",
}


def backend_module(name: str) -> str:
    return f"{__name__}.{name}_backend"
