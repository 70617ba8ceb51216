"""The ``invdn`` command.

Each command imports the library modules it needs inside its own function: ``invdn --help`` and a command's
``--help`` then start without loading torch, ONNX, LiteRT or coremltools (seconds on a small machine). That is the one
place where the package imports inside functions (besides optional converters, imported where they are needed, so
that a missing one is one clear error); library modules import at their top."""

from __future__ import annotations

import typer

from invdn_mobile import __version__
from invdn_mobile.cli.bench import bench, report
from invdn_mobile.cli.denoise import denoise
from invdn_mobile.cli.export import export, parity, ranges
from invdn_mobile.cli.info import info
from invdn_mobile.cli.noise import generate_noise, noise
from invdn_mobile.cli.target import target
from invdn_mobile.cli.train import calibrate, evaluate, photos, qat, train
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


# One short line per command in `invdn --help`; each command's own --help has the details, limits and examples.
USE, TRAIN, EXPORT, DEMO = "Use", "Train and evaluate", "Export and verify", "Demos and benchmarks"
COMMANDS = [
    (info, "info", USE, "Parameters and MACs of a variant or weights file."),
    (denoise, "denoise", USE, "Denoise photos of any size."),
    (noise, "noise", USE, "Add synthetic camera or Gaussian noise to photos."),
    (generate_noise, "generate-noise", USE, "New noisy variants of a noisy photo (paper 4.6)."),
    (train, "train", TRAIN, "Train InvDN (resumable)."),
    (evaluate, "evaluate", TRAIN, "PSNR/SSIM of InvDN, BM3D and NLM on noisy copies of photos."),
    (calibrate, "calibrate", TRAIN, "Fit the weights' noise-adaptive strength curve."),
    (qat, "qat", TRAIN, "Quantization-aware fine-tuning for every-op INT8 export."),
    (photos, "photos", TRAIN, "Build the training photo folders from Debian's wallpaper packages."),
    (export, "export", EXPORT, "Export to ONNX / TFLite / Core ML / ExecuTorch and gate each artifact."),
    (parity, "parity", EXPORT, "Check exported artifacts against PyTorch and clean photos."),
    (ranges, "ranges", EXPORT, "Range coverage of a recipe's INT8 calibration on the stress photos."),
    (golden, "golden", EXPORT, "Write the golden vectors the demo apps are tested against."),
    (web, "web", DEMO, "Serve the browser demo."),
    (report, "report", DEMO, "Generate benchmarks/REPORT.md and report.html."),
]
for function, name, panel, short in COMMANDS:
    app.command(name, short_help=short, rich_help_panel=panel)(function)
app.add_typer(
    bench,
    name="bench",
    short_help="Time every backend here; ingest phone results.",
    rich_help_panel=DEMO,
)
app.add_typer(
    target,
    name="target",
    short_help="Run artifacts on a target's own kernels, emulated (arm64).",
    rich_help_panel=EXPORT,
)

if __name__ == "__main__":
    app()
