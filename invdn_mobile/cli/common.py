"""Shared CLI plumbing: one-line errors, progress bars, option types."""

from __future__ import annotations

import functools
import sys
from pathlib import Path
from typing import Annotated

import typer

from invdn_mobile.errors import InvdnError
from invdn_mobile.model.variants import VARIANTS

VariantOpt = Annotated[
    str | None,
    typer.Option("--variant", help=f"Model variant: {', '.join(VARIANTS)} (default: the weights file's own)."),
]
WeightsOpt = Annotated[
    Path | None,
    typer.Option(
        "--weights",
        help="Weights (.safetensors with its .json, or an official InvDN .pth). "
        "Default: the weights bundled with the package.",
    ),
]
DeviceOpt = Annotated[str, typer.Option("--device", help="cpu, cuda, or auto (CUDA when available).")]


def fail(message: str, code: int = 2) -> None:
    """Print one line on stderr and exit non-zero."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def finish(summary: str, failed: list[tuple[str, str]]) -> None:
    """Print the summary on stdout (naming failed inputs, whose errors were already printed on stderr, one line
    each); exit 1 when any input failed."""
    if failed:
        summary += f"; {len(failed)} input(s) failed: " + ", ".join(item for item, _ in failed)
    typer.echo(summary)
    if failed:
        raise typer.Exit(1)


def cli_errors(fn):
    """Turn :class:`InvdnError` (and Ctrl-C) into one line on stderr and a non-zero exit, never a traceback."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except InvdnError as exc:
            fail(str(exc))
        except KeyboardInterrupt:
            fail("interrupted", 130)

    return wrapper


def progress_bar(description: str = ""):
    """A rich progress bar on stderr (hidden when stderr is not a terminal)."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    console = Console(stderr=True)
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        disable=not sys.stderr.isatty(),
        transient=False,
    )
