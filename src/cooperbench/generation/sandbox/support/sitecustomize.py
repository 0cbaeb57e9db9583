"""Loaded by every Python process of a test run (PLUGIN_DIR is first on PYTHONPATH), before the
current folder or any test folder is on sys.path, so nothing of the candidate's can stand in for
what it loads. It leaves no trace the repository's code or settings could see:

  1. the guard (cooperbench_guard.py), in every process, when the run has files to watch;
  2. in the outermost pytest process of the run (the one a runner script starts), the reporter
     (cooperbench_pytest.py), imported by its path under a name made for this process and named
     to pytest through PYTEST_ADDOPTS, before whatever the runner put there; the reporter gives
     PYTEST_ADDOPTS back as it was once pytest has read it, and nested pytest processes (a test
     that runs pytest) report nothing;
  3. our folder taken off sys.path, and the next `sitecustomize` on the path (the environment's
     own, if any) loaded in our place, as Python would have loaded it without us.
"""

import importlib.machinery
import importlib.util
import json
import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))


def _load(path: str, name: str, register: bool, preset: dict | None = None):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    module.__dict__.update(preset or {})
    if register:
        sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _is_pytest(argv) -> bool:
    if len(argv) >= 3 and argv[1] == "-m" and argv[2].split(".")[0] in ("pytest", "py"):
        return True
    return bool(argv) and os.path.basename(argv[0]) in ("pytest", "py.test")


def _guard() -> None:
    try:
        config = json.loads(os.environ.get("COOPERBENCH_GUARD") or "{}")
    except ValueError:
        return
    if isinstance(config, dict) and config.get("watch"):
        _load(os.path.join(_HERE, "cooperbench_guard.py"), "_cooperbench_guard", False).install(config)


def _reporter() -> None:
    if not os.environ.get("COOPERBENCH_REPORTS") or not _is_pytest(list(getattr(sys, "orig_argv", []) or [])):
        return
    try:
        import pytest  # noqa: F401  (from the environment, not from the repository)
    except ImportError:
        return
    name = f"cooperbench_report_{os.urandom(8).hex()}"
    original = os.environ.get("PYTEST_ADDOPTS")
    _load(os.path.join(_HERE, "cooperbench_pytest.py"), name, True, {"ORIGINAL_ADDOPTS": original})
    ours = os.environ.get("COOPERBENCH_PYTEST_ARGS", "")
    os.environ["PYTEST_ADDOPTS"] = " ".join(filter(None, (f"-p {name}", ours, original)))
    del os.environ["COOPERBENCH_REPORTS"]  # pytest processes this one starts report nothing


def _chain() -> None:
    while _HERE in sys.path:
        sys.path.remove(_HERE)
    spec = importlib.machinery.PathFinder.find_spec("sitecustomize", [p for p in sys.path if p != _HERE])
    if spec is None or spec.loader is None:
        return
    ours = sys.modules["sitecustomize"]
    try:
        module = importlib.util.module_from_spec(spec)
        sys.modules["sitecustomize"] = module
        spec.loader.exec_module(module)
    except Exception as exc:  # as site.py reports a failing sitecustomize
        sys.modules["sitecustomize"] = ours
        print(f"Error in sitecustomize; set PYTHONVERBOSE for traceback:\n{type(exc).__name__}: {exc}", file=sys.stderr)


_guard()
_reporter()
_chain()
