"""Shared CLI plumbing: one-line errors, progress bars, option types."""

from __future__ import annotations

import functools
import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from invdn_mobile.errors import InvdnError, first_line
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
StrengthOpt = Annotated[
    str,
    typer.Option(
        help="How much of the model's change to keep: auto (from each photo's estimated noise, by the weights' "
        "calibrated curve; see `invdn calibrate`) or a number from 0 (the input) to 1 (the model alone)."
    ),
]
DeviceOpt = Annotated[str, typer.Option("--device", help="cpu, cuda, or auto (CUDA when available).")]
TileOpt = Annotated[int, typer.Option(help="Tile size (a multiple of 4, at most 4096); 0 runs each photo whole.")]
OverlapOpt = Annotated[
    int | None,
    typer.Option(
        help="Overlap between tiles (at most half a tile), blended with feathered weights [default: 32].",
        show_default=False,
    ),
]
SEED_MAX = 2**63 - 1  # torch generators take a signed 64-bit seed


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
    """Turn :class:`InvdnError` (and Ctrl-C, running out of memory, and any error nobody foresaw) into one line on
    stderr and a non-zero exit, never a traceback (``INVDN_DEBUG=1`` re-raises the unforeseen ones)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except (typer.Exit, typer.Abort, SystemExit):
            raise
        except InvdnError as exc:
            fail(str(exc))
        except KeyboardInterrupt:
            fail("interrupted", 130)
        except MemoryError:
            fail("out of memory (try a smaller --tile or --batch, or a smaller input)", 1)
        except Exception as exc:
            if os.environ.get("INVDN_DEBUG"):
                raise
            fail(f"internal error: {type(exc).__name__}: {first_line(exc)} (INVDN_DEBUG=1 shows the traceback)", 1)

    return wrapper


def each_photo(
    inputs: list[str],
    outdir: Path,
    make,
    suffixes: tuple[str, ...] = ("",),
    summary: str = "wrote {n} image(s)",
    read=None,
) -> None:
    """The photo loop of ``denoise``, ``noise`` and ``generate-noise``: expand files/folders/globs, then for each photo
    ``make(path, read(path), index) -> [result per suffix]``, each written atomically to its :func:`output_paths`: a
    result is a Photo, or a function that writes its output to the path it is given (``denoise``'s streaming path).
    ``read``: :func:`~invdn_mobile.imageio.read_image` by default. A photo that fails gets one error line and the
    others go on; the summary names the failures and the exit is 1 if any."""
    from invdn_mobile.atomic import output_dir
    from invdn_mobile.denoise import expand_inputs, output_paths
    from invdn_mobile.imageio import read_image, write_image

    read = read or read_image

    paths, failed = expand_inputs(inputs)
    for item, reason in failed:
        typer.echo(f"error: {item}: {reason}", err=True)
    with output_dir(outdir):  # all photos failing leaves no empty folder
        written = 0
        for index, (path, targets) in enumerate(zip(paths, output_paths(paths, outdir, suffixes))):
            try:
                if isinstance(targets, InvdnError):
                    raise targets
                results = make(path, read(path), index)
                for target, result in zip(targets, results):
                    result(target) if callable(result) else write_image(target, result)
                    written += 1
            except InvdnError as exc:
                failed.append((str(path), str(exc)))
                typer.echo(f"error: {exc}", err=True)
        finish(f"{summary.format(n=written)} into {outdir}", failed)


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
