"""``invdn noise`` (synthetic noise) and ``invdn generate-noise`` (the paper's noise generation, section 4.6)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from invdn_mobile.cli.common import (
    SEED_MAX,
    DeviceOpt,
    OverlapOpt,
    TileOpt,
    VariantOpt,
    WeightsOpt,
    cli_errors,
    each_photo,
)
from invdn_mobile.tiling import DEFAULT_TILE


@cli_errors
def noise(
    inputs: Annotated[list[str], typer.Argument(help="Clean photos, folders or globs.")],
    outdir: Annotated[Path, typer.Option("-o", "--output", help="Folder for the noisy PNGs.")],
    model: Annotated[
        str,
        typer.Option(
            "--model", help="awgn:SIGMA or awgn:LO-HI (sigma 0-255), camera:isoN or camera:isoLO-HI (ISO 50-102400)."
        ),
    ] = "camera:iso3200",
    seed: Annotated[int, typer.Option(min=0, max=SEED_MAX, help="Seed; photo i uses seed + i.")] = 0,
) -> None:
    """Make noisy copies of photos with a synthetic noise model (for tests, evaluation and demos). Writes
    OUTDIR/<name>.png (never over an input); a grayscale photo gets grayscale noise of the asked strength."""
    import numpy as np
    import torch

    from invdn_mobile.noise import parse_noise

    noise_model = parse_noise(model)

    def make(path, photo, index):
        x = torch.from_numpy(photo.rgb.transpose(2, 0, 1).copy())[None]
        y = noise_model(x, torch.Generator().manual_seed((seed + index) % (SEED_MAX + 1)))[0].numpy()
        y = y.transpose(1, 2, 0)
        if photo.gray:  # one channel's noise (a gray file stores the channel mean: that would divide sigma by 1.7)
            y = np.repeat(y[:, :, 1:2], 3, axis=2)
        return [photo.with_rgb(y)]

    each_photo(inputs, outdir, make)


@cli_errors
def generate_noise(
    inputs: Annotated[list[str], typer.Argument(help="Noisy photos, folders or globs.")],
    outdir: Annotated[Path, typer.Option("-o", "--output", help="Folder for the generated noisy variants.")],
    count: Annotated[int, typer.Option("--count", min=1, max=100, help="Variants per photo.")] = 4,
    epsilon: Annotated[
        float, typer.Option(help="Perturbation of the noise latent: z' = z + epsilon * v (finite, >= 0).")
    ] = 2e-4,
    weights: WeightsOpt = None,
    variant: VariantOpt = None,
    tile: TileOpt = DEFAULT_TILE,
    overlap: OverlapOpt = None,
    seed: Annotated[int, typer.Option(min=0, max=SEED_MAX, help="Seed of v; variant k uses seed + k.")] = 0,
    device: DeviceOpt = "auto",
) -> None:
    """New noisy variants of a noisy photo (paper 4.6): keep its LR channels, perturb its own noise latent z by
    epsilon * N(0, I) and run the reverse pass. Writes OUTDIR/<name>-gen<k>.png."""
    import math

    from invdn_mobile.denoise import denoise_photo, load_denoiser
    from invdn_mobile.device import pick_device
    from invdn_mobile.errors import InvdnError
    from invdn_mobile.model.noise_generation import perturb_fn
    from invdn_mobile.tiling import check_options

    if not (math.isfinite(epsilon) and epsilon >= 0):
        raise InvdnError(f"--epsilon must be a finite number >= 0, got {epsilon}")
    torch_device = pick_device(device)
    denoiser, _ = load_denoiser(weights, variant, torch_device)
    multiple = denoiser.model.config.multiple
    overlap = check_options(tile, overlap, multiple)

    def make(path, photo, index):
        return [
            denoise_photo(
                photo,
                perturb_fn(denoiser.model, epsilon, (seed + k) % (SEED_MAX + 1), torch_device),
                tile,
                overlap,
                multiple,
            )
            for k in range(count)
        ]

    each_photo(inputs, outdir, make, suffixes=tuple(f"-gen{k}" for k in range(count)))
