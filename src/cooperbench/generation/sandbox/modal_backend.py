"""The modal backend: a `modal.Sandbox` from the task's image, for fan-out past one machine.

Credentials come from Modal's own configuration (`modal token new`, or MODAL_TOKEN_ID /
MODAL_TOKEN_SECRET); nothing of the caller's environment is passed into the sandbox. The
sandbox blocks all network unless the task allows it. Its lifetime is capped so a forgotten
sandbox stops by itself; closing terminates it.
"""

from __future__ import annotations

import time

from cooperbench.generation.errors import GenerationError
from cooperbench.generation.sandbox.base import REPO_DIR, CommandResult, Sandbox, cap_output
from cooperbench.generation.task import Task

APP_NAME = "cooperbench-generation"
SANDBOX_LIFETIME = 2 * 60 * 60  # seconds: the longest an agent attempt plus validation may take
LIMITS = {"cpu": 2.0, "memory": 4096}
TIMED_OUT = -1  # Modal reports a process killed at its exec timeout with a negative return code


def modal_module():
    try:
        import modal
    except ImportError:
        raise GenerationError("the modal backend needs the modal SDK: pip install modal") from None
    return modal


class ModalSandbox(Sandbox):
    backend = "modal"

    def __init__(self, task: Task, *, network: bool = False):
        modal = modal_module()
        self.task = task
        self._sandbox = None
        try:
            app = modal.App.lookup(APP_NAME, create_if_missing=True)
            # CooperBench images end in ENTRYPOINT runner.sh; the sandbox needs a plain shell
            image = modal.Image.from_registry(task.image).entrypoint([])
            self._sandbox = modal.Sandbox.create(
                "sleep", "infinity",
                app=app,
                image=image,
                workdir=REPO_DIR,
                timeout=SANDBOX_LIFETIME,
                block_network=not network,
                **LIMITS,
            )
        except modal.exception.AuthError as exc:
            raise GenerationError(f"Modal refused the credentials ({exc}); run `modal token new`") from None
        except modal.exception.Error as exc:
            raise GenerationError(f"Modal could not start a sandbox of {task.image}: {exc}") from None

    def run(self, command: str, *, timeout: float, cwd: str | None = None) -> CommandResult:
        started = time.monotonic()
        process = self._sandbox.exec("bash", "-c", command, workdir=cwd or REPO_DIR, timeout=max(1, int(timeout)))
        try:
            stdout, stderr = process.stdout.read(), process.stderr.read()
        except TimeoutError:  # modal.exception.ExecTimeoutError: the exec passed its timeout
            stdout, stderr = "", ""
        exit_code = process.wait()
        duration = time.monotonic() - started
        return CommandResult(
            exit_code=exit_code,
            stdout=cap_output(stdout),
            stderr=cap_output(stderr),
            timed_out=exit_code == TIMED_OUT or (exit_code != 0 and duration >= timeout),
            duration=duration,
        )

    def _absolute(self, path: str) -> str:
        return path if path.startswith("/") else f"{REPO_DIR}/{path}"

    def write_file(self, path: str, data: bytes) -> None:
        target = self._absolute(path)
        self._sandbox.exec("mkdir", "-p", target.rsplit("/", 1)[0]).wait()
        self._sandbox.filesystem.write_bytes(data, target)

    def read_file(self, path: str) -> bytes:
        try:
            return self._sandbox.filesystem.read_bytes(self._absolute(path))
        except Exception as exc:  # the SDK's not-found error differs across versions
            raise FileNotFoundError(path) from exc

    def versions(self) -> dict[str, str]:
        return {"modal": modal_module().__version__, "image": self.task.image}

    def close(self) -> None:
        sandbox, self._sandbox = self._sandbox, None
        if sandbox is not None:
            try:
                sandbox.terminate()
            except Exception:  # already stopped: nothing to clean
                pass
