"""Loaded by every Python process of a test run (PLUGIN_DIR is first on PYTHONPATH), before the
current folder or any test folder is on sys.path, so nothing of the candidate's can stand in for
what it loads.

In a pytest process it imports pytest itself and our reporter from where they really are, and
names the reporter in PYTEST_ADDOPTS under a name made for this process: a `pytest.py` or a
`cooperbench_pytest.py` the candidate puts in the repository (or writes while tests run) is then
never imported in their place.
"""

import importlib.util
import os
import secrets
import sys

_PLUGIN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "cooperbench_pytest.py")


def _is_pytest(argv):
    if len(argv) >= 3 and argv[1] == "-m" and argv[2].split(".")[0] in ("pytest", "py"):
        return True
    return bool(argv) and os.path.basename(argv[0]) in ("pytest", "py.test")


def _load():
    if not _is_pytest(list(getattr(sys, "orig_argv", []) or [])) or not os.path.exists(_PLUGIN):
        return
    try:
        import pytest  # noqa: F401  (from the environment, not from the repository)
    except ImportError:
        return
    name = f"cooperbench_report_{secrets.token_hex(8)}"
    spec = importlib.util.spec_from_file_location(name, _PLUGIN)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    options = os.environ.get("PYTEST_ADDOPTS", "")
    os.environ["PYTEST_ADDOPTS"] = options.replace("-p cooperbench_pytest", f"-p {name}")


_load()
