"""The one exception type that the CLI turns into a single line on stderr and a non-zero exit."""


class InvdnError(Exception):
    """A user-facing error: its message is complete and is printed as one line, without a traceback."""


def missing_extra(module: str, extra: str) -> InvdnError:
    """Error for an optional dependency that is not installed, naming the extra that provides it."""
    return InvdnError(f"{module} is not installed: pip install 'invdn-mobile[{extra}]'")


def first_line(exc: BaseException) -> str:
    """The first non-empty line of an exception's message (library errors can span many lines)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__
