"""The ``invdn`` command."""

from __future__ import annotations

import typer

from invdn_mobile import __version__
from invdn_mobile.cli.bench import bench, report
from invdn_mobile.cli.denoise import denoise
from invdn_mobile.cli.export import export, parity
from invdn_mobile.cli.info import info
from invdn_mobile.cli.noise import generate_noise, noise
from invdn_mobile.cli.train import calibrate, evaluate, train
from invdn_mobile.cli.web import golden, web

app = typer.Typer(
    name="invdn",
    help="InvDN (CVPR 2021) real-noise denoiser: denoise, train, evaluate, and take it to phones.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"invdn-mobile {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    """InvDN real-noise denoiser toolkit."""


app.command()(info)
app.command()(denoise)
app.command()(noise)
app.command("generate-noise")(generate_noise)
app.command()(train)
app.command()(evaluate)
app.command()(calibrate)
app.command()(export)
app.command()(parity)
app.command()(web)
app.command()(golden)
app.add_typer(bench, name="bench")
app.command()(report)

if __name__ == "__main__":
    app()
