"""The one exception type the CLI turns into a one-line message instead of a traceback."""


class GenerationError(Exception):
    """Bad input or a failed step, worded for the user: it names the file and the problem."""
