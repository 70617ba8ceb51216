"""The one exception type that the CLI turns into a single line on stderr and a non-zero exit."""


class InvdnError(Exception):
    """A user-facing error: its message is complete and is printed as one line, without a traceback."""


def first_line(exc: BaseException) -> str:
    """The first non-empty line of an exception's message (library errors can span many lines)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__
