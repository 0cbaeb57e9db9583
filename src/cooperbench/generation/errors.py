"""The exception types the CLI turns into a one-line message instead of a traceback."""


class GenerationError(Exception):
    """Bad input or a failed step, worded for the user: it names the file and the problem."""


class InfrastructureError(GenerationError):
    """The machinery failed (an endpoint, credentials, a sandbox that would not start), not the
    model: there is no result to keep, and trying again may succeed."""


class HarnessDisagrees(GenerationError):
    """Our test harness and the task's own runner.sh, run as written with nothing of ours, do not
    agree on the bare base commit: the project's fault, neither the task's nor the candidate's."""
