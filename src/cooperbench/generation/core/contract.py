"""Where things are inside every sandbox, whatever the backend: the one definition.

The benchmark's runner contract is `runner.sh <tests.patch> [feature.patch]`, the patches under
/patches, the repository at /workspace/repo. Around it sit our own places: the support files
(install shims, the pytest reporter), the environment's state, the test reports, and the file
the agent writes its feature's description to, and the agent's one command of ours.
"""

from __future__ import annotations

from dataclasses import dataclass

WORKSPACE = "/workspace"  # the task's environment (written while building, read-only after)
REPO_DIR = f"{WORKSPACE}/repo"
VENV_DIR = f"{WORKSPACE}/venv"
NPM_PREFIX = f"{WORKSPACE}/npm-global"
STATE_DIR = f"{WORKSPACE}/.cooperbench"  # installs.tsv, install-failures.tsv, overlay/
BUILD_HOME = f"{WORKSPACE}/home"  # $HOME while building (kept with the environment)
RUN_HOME = "/tmp/home"  # $HOME in a run (thrown away with the sandbox)
TASK_DIR = "/opt/cooperbench-task"
RUNNER_PATH = f"{TASK_DIR}/runner.sh"  # the task's runner.sh
PATCHES_DIR = "/patches"
REPORTS_DIR = "/cooperbench-reports"
SUPPORT_DIR = "/opt/cooperbench"  # shims and the pytest plugin, read-only
SHIM_DIR = f"{SUPPORT_DIR}/bin"
PLUGIN_DIR = f"{SUPPORT_DIR}/python"
PACKAGE_CACHE_DIR = "/cooperbench-package-cache"  # pip's and uv's caches while building, shared per repository
DESCRIPTION_FILE = ".feature_description.md"  # the agent's feature.md, at the repository root
VERIFY_COMMAND = "cooperbench-verify"  # on the agent's PATH (SHIM_DIR): it prints VERIFY_REQUEST, answered outside
VERIFY_REQUEST = "COOPERBENCH_VERIFY_REQUEST"

# The backends, by name: backend `<name>` is the module `sandbox/<name>_backend.py`. Nothing here
# imports one, so naming a backend (in a setting, say) never loads or depends on its code.
BACKENDS = {  # name -> what it is, for people
    "local": "bubblewrap on this machine (the offline default)",
    "docker": "a container per sandbox, through the Docker daemon",
    "modal": "a Modal sandbox per run, in the cloud (needs a Modal token)",
}


def backend_module(name: str) -> str:
    return f"cooperbench.generation.sandbox.{name}_backend"


@dataclass(frozen=True)
class CommandResult:
    exit_code: int
    stdout: str
    stderr: str
    timed_out: bool
    duration: float
    limit: str | None = None  # a resource limit the command hit (disk, memory, ...), in words
    truncated: bool = False  # the output was longer than kept (said here, never by a marker in the text)

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.timed_out and self.limit is None
