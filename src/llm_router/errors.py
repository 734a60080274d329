"""The one error type the CLI turns into a single line on stderr and exit code 2."""


class RouterError(Exception):
    """A user-facing problem (bad input, missing model, failed gate). The message is one line, no traceback."""

    exit_code = 2

    def __init__(self, message: str, exit_code: int | None = None):
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code
