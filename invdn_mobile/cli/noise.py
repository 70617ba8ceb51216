"""``invdn noise`` (synthetic noise) and ``invdn generate-noise`` (the paper's noise generation, section 4.6)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from invdn_mobile.cli.common import DeviceOpt, VariantOpt, WeightsOpt, cli_errors, finish


def _each_photo(inputs: list[str], outdir: Path, make):
    """Run ``make(photo, index) -> [(suffix, Photo)]`` for each input; one error line per failure; returns count."""
    from invdn_mobile.denoise import expand_inputs, output_paths
    from invdn_mobile.errors import InvdnError
    from invdn_mobile.imageio import read_image, write_image

    paths, failed = expand_inputs(inputs)
    for item, reason in failed:
        typer.echo(f"error: {item}: {reason}", err=True)
    outdir.mkdir(parents=True, exist_ok=True)
    written = 0
    for index, (path, target) in enumerate(zip(paths, output_paths(paths, outdir))):
        try:
            photo = read_image(path)
            for suffix, result in make(photo, index):
                write_image(target.with_name(f"{target.stem}{suffix}.png"), result)
                written += 1
        except InvdnError as exc:
            failed.append((str(path), str(exc)))
            typer.echo(f"error: {exc}", err=True)
    finish(f"wrote {written} image(s) into {outdir}", failed)


@cli_errors
def noise(
    inputs: Annotated[list[str], typer.Argument(help="Clean photos, folders or globs.")],
    outdir: Annotated[Path, typer.Option("-o", "--output", help="Folder for the noisy PNGs.")],
    model: Annotated[
        str, typer.Option("--model", help="awgn:SIGMA, awgn:LO-HI, camera:isoN, camera:isoLO-HI.")
    ] = "camera:iso3200",
    seed: Annotated[int, typer.Option(help="Seed; photo i uses seed + i.")] = 0,
) -> None:
    """Make noisy copies of photos with a synthetic noise model (for tests, evaluation and demos)."""
    import torch

    from invdn_mobile.imageio import Photo
    from invdn_mobile.noise import parse_noise

    noise_model = parse_noise(model)

    def make(photo, index):
        x = torch.from_numpy(photo.rgb.transpose(2, 0, 1).copy())[None]
        y = noise_model(x, torch.Generator().manual_seed(seed + index))[0].numpy().transpose(1, 2, 0)
        return [("", Photo(y, photo.bits, photo.alpha, photo.gray))]

    _each_photo(inputs, outdir, make)


@cli_errors
def generate_noise(
    inputs: Annotated[list[str], typer.Argument(help="Noisy photos, folders or globs.")],
    outdir: Annotated[Path, typer.Option("-o", "--output", help="Folder for the generated noisy variants.")],
    count: Annotated[int, typer.Option("--count", help="Variants per photo.")] = 4,
    epsilon: Annotated[float, typer.Option(help="Perturbation of the noise latent: z' = z + epsilon * v.")] = 2e-4,
    weights: WeightsOpt = None,
    variant: VariantOpt = None,
    tile: Annotated[int, typer.Option(help="Tile size (0: whole photo).")] = 256,
    overlap: Annotated[int, typer.Option(help="Tile overlap.")] = 32,
    seed: Annotated[int, typer.Option(help="Seed of v; variant k uses seed + k.")] = 0,
    device: DeviceOpt = "auto",
) -> None:
    """New noisy variants of a noisy photo (paper 4.6): keep its LR channels, perturb its own noise latent z by
    epsilon * N(0, I) and run the reverse pass. Writes OUTDIR/<name>-gen<k>.png."""
    from invdn_mobile.denoise import denoise_photo, load_denoiser
    from invdn_mobile.device import pick_device
    from invdn_mobile.noise.generate import perturb_fn

    torch_device = pick_device(device)
    denoiser, _ = load_denoiser(weights, variant, torch_device)
    multiple = denoiser.model.config.multiple

    def make(photo, index):
        return [
            (
                f"-gen{k}",
                denoise_photo(
                    photo, perturb_fn(denoiser.model, epsilon, seed + k, torch_device), tile, overlap, multiple
                ),
            )
            for k in range(count)
        ]

    _each_photo(inputs, outdir, make)
