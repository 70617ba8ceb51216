"""``invdn denoise``: denoise photos with the PyTorch model."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from invdn_mobile.cli.common import (
    SEED_MAX,
    DeviceOpt,
    OverlapOpt,
    StrengthOpt,
    TileOpt,
    VariantOpt,
    WeightsOpt,
    cli_errors,
    each_photo,
    progress_bar,
)


@cli_errors
def denoise(
    inputs: Annotated[list[str], typer.Argument(help="Photos, folders of photos, or globs (quote them).")],
    outdir: Annotated[Path, typer.Option("-o", "--output", help="Folder for the denoised PNGs.")] = Path("denoised"),
    weights: WeightsOpt = None,
    variant: VariantOpt = None,
    tile: TileOpt = 256,
    overlap: OverlapOpt = None,
    samples: Annotated[
        int, typer.Option(min=1, max=64, help="Monte-Carlo self-ensemble: average over N z_HF samples.")
    ] = 1,
    tta: Annotated[bool, typer.Option("--tta", help="Average over the 8 flips/rotations (8x slower).")] = False,
    seed: Annotated[
        int | None, typer.Option(min=0, max=SEED_MAX, help="z_HF seed (default: the one recorded with the weights).")
    ] = None,
    batch: Annotated[int, typer.Option(min=1, max=256, help="Tiles per forward call.")] = 1,
    strength: StrengthOpt = "auto",
    device: DeviceOpt = "auto",
) -> None:
    """Denoise photos of any size with the bundled weights (or yours).

    16-bit stays 16-bit, alpha is kept untouched, EXIF orientation is applied, grayscale stays grayscale, the ICC
    profile is kept. Writes OUTDIR/<name>.png (default ./denoised/): names that repeat get -2, -3...; an input is never
    overwritten, nor any file when OUTDIR holds the inputs. A photo that fails is reported and the rest go on.

    The model alone loses detail on photos with little noise (sigma below about 10 in 8-bit levels), so by default
    (--strength auto) each photo's noise is estimated and only part of the model's change is kept where the weights'
    calibrated curve says so (a note when under 80 %); without a curve, a warning.

    Examples: `invdn denoise photo.jpg` (writes denoised/photo.png); `invdn denoise shots/ -o out --variant compact`;
    `invdn denoise "raw/*.png" -o out --samples 4 --tta` (slower, a little better)."""
    from invdn_mobile.denoise import denoise_photo, ensemble_fn, load_denoiser, photo_strength, tiles_for
    from invdn_mobile.device import pick_device
    from invdn_mobile.strength import curve_of
    from invdn_mobile.strength import resolve as resolve_strength
    from invdn_mobile.tiling import check_options

    torch_device = pick_device(device)
    denoiser, meta = load_denoiser(weights, variant, torch_device, seed)
    strength_fn = resolve_strength(strength, curve_of(meta))
    auto = strength.strip().lower() == "auto"
    multiple = denoiser.model.config.multiple
    overlap = check_options(tile, overlap, multiple)
    fn = ensemble_fn(denoiser, samples, tta, torch_device)
    with progress_bar() as bar:
        task = bar.add_task("denoise", total=None)

        def make(path, photo, index):
            s, message = photo_strength(photo, path, strength_fn, auto)
            if message:
                typer.echo(message, err=True)
            bar.update(task, description=path.name, total=tiles_for(photo.size, tile, overlap, multiple), completed=0)
            advance = lambda n: bar.advance(task, n)  # noqa: E731
            return [denoise_photo(photo, fn, tile, overlap, multiple, batch, advance, strength=s)]

        each_photo(inputs, outdir, make, summary="denoised {n} photo(s)")
