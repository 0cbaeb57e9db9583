"""Loaded by every Python process of a test run (PLUGIN_DIR is first on PYTHONPATH), before the
current folder or any test folder is on sys.path, so nothing of the candidate's can stand in for
what it loads. It leaves no trace the repository's code or settings could see:

  1. the guard (cooperbench_guard.py), in every process, when the run has files to watch;
  2. in the outermost pytest process of the run (the one a runner script starts), the reporter
     (cooperbench_pytest.py), imported by its path under a name made for this process and named
     to pytest through PYTEST_ADDOPTS, before whatever the runner put there; the reporter gives
     PYTEST_ADDOPTS back as it was once pytest has read it, and nested pytest processes (a test
     that runs pytest) report nothing. In that run's xdist workers, the reporter again (named
     through PYTEST_PLUGINS), to make its closing check where the tests run;
  3. in a `python -m unittest` process, the unittest reporter (cooperbench_unittest.py) instead;
  4. our folder taken off sys.path, and the next `sitecustomize` on the path (the environment's
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


def _is_unittest(argv) -> bool:
    return len(argv) >= 3 and argv[1] == "-m" and argv[2] == "unittest"


def _is_pytest(argv) -> bool:
    """`python -m pytest ...`, or pytest's console script (`python /path/to/pytest ...`)."""
    if len(argv) >= 3 and argv[1] == "-m" and argv[2].split(".")[0] in ("pytest", "py"):
        return True
    scripts = [arg for arg in argv[:2] if not arg.startswith("-")]
    return any(os.path.basename(arg) in ("pytest", "py.test") for arg in scripts)


def _guard() -> None:
    try:
        config = json.loads(os.environ.get("COOPERBENCH_GUARD") or "{}")
    except ValueError:
        return
    if isinstance(config, dict) and config.get("watch"):
        guard = _load(os.path.join(_HERE, "cooperbench_guard.py"), "_cooperbench_guard", False)
        guard.install(config, tuple(os.path.join(_HERE, f"cooperbench_{kind}.py") for kind in ("pytest", "unittest")))


WORKER_BOOT = "exec(eval(sys.stdin.readline()))"  # how execnet (pytest-xdist) starts a worker


def _reporter() -> None:
    argv = list(getattr(sys, "orig_argv", []) or [])
    folder = os.environ.get("COOPERBENCH_REPORTS")
    if folder and _is_unittest(argv):
        _load(os.path.join(_HERE, "cooperbench_unittest.py"), "_cooperbench_unittest", False, {"REPORTS": folder})
        del os.environ["COOPERBENCH_REPORTS"]  # unittest or pytest processes it starts report nothing
        return
    worker = os.environ.get("COOPERBENCH_XDIST_REPORTS") if any(WORKER_BOOT in arg for arg in argv) else None
    if not (folder and _is_pytest(argv)) and not worker:
        return
    try:
        import pytest  # noqa: F401  (from the environment, not from the repository)
    except ImportError:
        return
    name = f"cooperbench_report_{os.urandom(8).hex()}"
    order = os.environ.pop("COOPERBENCH_ORDER", "")  # a rerun's test order (the reporter's), no process's after this
    variable = "PYTEST_PLUGINS" if worker else "PYTEST_ADDOPTS"
    original = os.environ.get(variable)
    _load(os.path.join(_HERE, "cooperbench_pytest.py"), name, True,
          {"ORIGINAL": (variable, original), "REPORTS": worker or folder, "WORKER": bool(worker),
           "ORDER": order})
    if worker:  # an xdist worker reads no PYTEST_ADDOPTS of ours: it names its plugins here
        os.environ[variable] = ",".join(filter(None, (name, original)))
    else:
        ours = os.environ.get("COOPERBENCH_PYTEST_ARGS", "")
        os.environ[variable] = " ".join(filter(None, (f"-p {name}", ours, original)))
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
