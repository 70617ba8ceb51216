"""``invdn denoise``: denoise photos with the PyTorch model."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from invdn_mobile.cli.common import DeviceOpt, VariantOpt, WeightsOpt, cli_errors, finish, progress_bar


@cli_errors
def denoise(
    inputs: Annotated[list[str], typer.Argument(help="Photos, folders of photos, or globs (quote them).")],
    outdir: Annotated[Path, typer.Option("-o", "--output", help="Folder for the denoised PNGs.")],
    weights: WeightsOpt = None,
    variant: VariantOpt = None,
    tile: Annotated[int, typer.Option(help="Tile size (a multiple of 4); 0 runs each photo whole.")] = 256,
    overlap: Annotated[int, typer.Option(help="Overlap between tiles, blended with feathered weights.")] = 32,
    samples: Annotated[int, typer.Option(help="Monte-Carlo self-ensemble: average over N z_HF samples.")] = 1,
    tta: Annotated[bool, typer.Option("--tta", help="Average over the 8 flips/rotations (8x slower).")] = False,
    seed: Annotated[int | None, typer.Option(help="z_HF seed (default: the one recorded with the weights).")] = None,
    batch: Annotated[int, typer.Option(help="Tiles per forward call.")] = 1,
    device: DeviceOpt = "auto",
) -> None:
    """Denoise photos of any size: 16-bit stays 16-bit, alpha is kept untouched, EXIF orientation is applied,
    grayscale stays grayscale. Writes OUTDIR/<name>.png; a photo that fails is reported and the rest go on."""
    from invdn_mobile.denoise import (
        denoise_photo,
        ensemble_fn,
        expand_inputs,
        load_denoiser,
        output_paths,
        tiles_for,
    )
    from invdn_mobile.device import pick_device
    from invdn_mobile.errors import InvdnError
    from invdn_mobile.imageio import read_image, write_image

    torch_device = pick_device(device)
    denoiser, _ = load_denoiser(weights, variant, torch_device, seed)
    fn = ensemble_fn(denoiser, samples, tta, torch_device)
    multiple = denoiser.model.config.multiple
    if tile and (tile % multiple or tile < multiple):
        raise InvdnError(f"--tile must be a multiple of {multiple} (or 0), got {tile}")
    paths, failed = expand_inputs(inputs)
    for item, reason in failed:
        typer.echo(f"error: {item}: {reason}", err=True)
    outdir.mkdir(parents=True, exist_ok=True)
    written = []
    with progress_bar() as bar:
        task = bar.add_task("denoise", total=None)
        for path, target in zip(paths, output_paths(paths, outdir)):
            try:
                if target.resolve() == path.resolve():
                    raise InvdnError(f"{path}: output would overwrite the input; choose another -o folder")
                photo = read_image(path)
                bar.update(
                    task, description=path.name, total=tiles_for(photo.size, tile, overlap, multiple), completed=0
                )
                result = denoise_photo(photo, fn, tile, overlap, multiple, batch, lambda n: bar.advance(task, n))
                write_image(target, result)
                written.append(target)
            except InvdnError as exc:
                failed.append((str(path), str(exc)))
                typer.echo(f"error: {exc}", err=True)
    summary = f"denoised {len(written)} photo(s) into {outdir}"
    finish(summary, failed)
