"""``invdn train``, ``invdn evaluate``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from invdn_mobile.cli.common import DeviceOpt, VariantOpt, WeightsOpt, cli_errors, progress_bar
from invdn_mobile.errors import InvdnError


@cli_errors
def train(
    config: Annotated[Path | None, typer.Option("--config", help="TOML config (see configs/).")] = None,
    data: Annotated[Path | None, typer.Option("--data", help="Folder of clean photos (overrides the config).")] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Run folder: checkpoints, log, final weights.")] = None,
    variant: VariantOpt = None,
    steps: Annotated[int | None, typer.Option(help="Total steps (overrides the config).")] = None,
    max_minutes: Annotated[float | None, typer.Option(help="Stop after this many minutes, > 0 (resumable).")] = None,
    device: Annotated[str | None, typer.Option("--device", help="cpu, cuda or auto.")] = None,
    fresh: Annotated[bool, typer.Option("--fresh", help="Ignore an existing checkpoint in the run folder.")] = False,
) -> None:
    """Train InvDN with the paper's losses; resumes from OUT/last.pt when it exists (bit-exact on CPU).

    Under torchrun (`torchrun --nproc-per-node N -m invdn_mobile train ...`) each process is one rank of a
    DistributedDataParallel run: the config's batch is per rank, and rank 0 logs and writes the run folder."""
    import contextlib
    import os

    from invdn_mobile.atomic import output_dir
    from invdn_mobile.train.config import load_config
    from invdn_mobile.train.loop import train as run
    from invdn_mobile.train.world import SharedError

    rank = int(os.environ.get("RANK", "0") or 0)  # set by torchrun; 0 for a single process
    try:
        try:
            cfg = load_config(
                config,
                data=str(data) if data else None,
                out=str(out) if out else None,
                variant=variant,
                steps=steps,
                max_minutes=max_minutes,
                device=device,
            )
        except InvdnError as exc:
            raise SharedError(str(exc)) from None  # every rank reads the same command line
        # a run that fails before writing anything leaves no empty folder; only rank 0 writes the run folder
        with output_dir(Path(cfg.out)) if rank == 0 else contextlib.nullcontext():
            weights = run(cfg, resume=not fresh, progress=True, log=typer.echo)
    except SharedError:
        if rank != 0:  # every rank met it: rank 0 says it
            raise typer.Exit(2) from None
        raise
    except InvdnError as exc:
        if rank != 0:
            raise InvdnError(f"rank {rank}: {exc}") from None
        raise
    if rank == 0:
        typer.echo(f"weights: {weights}")


@cli_errors
def evaluate(
    data: Annotated[Path, typer.Option("--data", help="Folder of clean photos the model never saw.")],
    noise: Annotated[
        list[str],
        typer.Option(
            "--noise", help="Noise model, repeatable: awgn:SIGMA (0-255), camera:isoN (ISO 50-102400), e.g. awgn:25."
        ),
    ],
    baselines: Annotated[str, typer.Option(help="Comma-separated: bm3d,nlm (empty for none).")] = "bm3d,nlm",
    weights: WeightsOpt = None,
    variant: VariantOpt = None,
    samples: Annotated[
        int, typer.Option(help="Also report the Monte-Carlo ensemble of N samples (N >= 1; 1: single pass only).")
    ] = 1,
    tta: Annotated[bool, typer.Option("--tta", help="Also report the x8 flip/rotate ensemble.")] = False,
    auto_strength: Annotated[
        bool,
        typer.Option(
            "--auto-strength",
            help="Also report the single pass blended by the weights' calibrated strength curve (invdn-auto: what "
            "`invdn denoise` writes by default).",
        ),
    ] = False,
    tile: Annotated[int, typer.Option(help="Tile size for InvDN (0: whole photo).")] = 256,
    seed: Annotated[int, typer.Option(help="Noise seed (the same noisy images for every method).")] = 0,
    z_scale: Annotated[
        float | None,
        typer.Option(help="Scale of the fixed z_HF sample (default: the weights' own, 1 = the paper's N(0, I))."),
    ] = None,
    limit: Annotated[int | None, typer.Option(help="Use only the first N photos (N >= 1; default: all).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON rows instead of a Markdown table.")] = False,
    device: DeviceOpt = "auto",
    variants: Annotated[
        str | None,
        typer.Option(
            help="Frontier mode: compare these variants' bundled weights (e.g. paper,compact) in one run, with "
            "params, GMAC and CPU latency per 256² tile (PyTorch, fastest FP32 and INT8 artifacts in --artifacts).",
        ),
    ] = None,
    artifacts: Annotated[Path, typer.Option(help="Frontier mode: export folder to time.")] = Path("export/out"),
    save: Annotated[Path | None, typer.Option(help="Frontier mode: write the result as JSON (+ .md beside).")] = None,
) -> None:
    """PSNR/SSIM of InvDN, BM3D, NLM and the noisy input, on the same noisy images, in one run.

    With --variants: the quality/cost frontier of the model variants (e.g. `invdn evaluate --variants paper,compact
    --data DIR --noise camera:iso3200 --noise awgn:25 --save benchmarks/frontier.json`)."""
    from invdn_mobile.denoise import load_denoiser
    from invdn_mobile.device import pick_device
    from invdn_mobile.evaluate.run import evaluate as run
    from invdn_mobile.evaluate.run import markdown_table
    from invdn_mobile.strength import curve_of

    names = [b.strip() for b in baselines.split(",") if b.strip()]
    if variants is not None:
        chosen = [v.strip() for v in variants.split(",") if v.strip()]
        if not chosen:
            raise InvdnError(f"--variants {variants!r}: name at least one variant, e.g. paper,compact")
        if z_scale is not None or auto_strength:
            raise InvdnError("--z-scale and --auto-strength apply to one model (--weights), not to --variants")
        _frontier(
            data,
            noise,
            chosen,
            names,
            artifacts,
            seed,
            limit,
            as_json,
            save,
        )
        return
    denoiser, meta = load_denoiser(weights, variant, pick_device(device), z_scale=z_scale)
    curve = curve_of(meta)
    if auto_strength and curve is None:
        raise InvdnError("--auto-strength: these weights have no strength curve; fit one with `invdn calibrate`")
    with progress_bar() as bar:
        task = bar.add_task("evaluate", total=None)
        rows = run(
            data,
            noise,
            denoiser,
            samples,
            tta,
            names,
            tile=tile,
            seed=seed,
            limit=limit,
            on_step=lambda what: bar.update(task, description=what, advance=1),
            strength=curve if auto_strength else None,
        )
    if as_json:
        for row in rows:
            typer.echo(json.dumps(row.to_dict()))
    else:
        typer.echo(markdown_table(rows))


@cli_errors
def calibrate(
    data: Annotated[
        Path, typer.Option("--data", help="Folder of clean photos (not your test photos: e.g. the training photos).")
    ],
    weights: WeightsOpt = None,
    variant: VariantOpt = None,
    noise: Annotated[
        list[str] | None,
        typer.Option("--noise", help="Noise models to calibrate over, repeatable (default: AWGN 0-30, ISO 100-6400)."),
    ] = None,
    crop: Annotated[int, typer.Option(min=16, max=4096, help="Crop size, at the photos' own resolution.")] = 256,
    crops: Annotated[int, typer.Option(min=1, max=64, help="Random crops per photo and scale.")] = 1,
    scales: Annotated[
        str,
        typer.Option(
            help="Comma-separated scales of the photos to crop from, in (0, 1] (1: own resolution; the default "
            "spans the detail per pixel of full-size and downscaled photos, like training's scale range)."
        ),
    ] = "1,0.5,0.25",
    seed: Annotated[int, typer.Option(min=0, help="Seed of the crops and the noise.")] = 0,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the curve, write nothing.")] = False,
    samples_json: Annotated[
        Path | None, typer.Option("--samples-json", help="Also write every (sigma, best strength) sample as JSON.")
    ] = None,
    device: DeviceOpt = "auto",
) -> None:
    """Fit the weights' noise-adaptive strength curve (`invdn denoise --strength auto`): for noisy copies of clean
    photos, the blend of input and output closest to the clean photo, as a function of the estimated noise sigma.
    Writes it into the weights' JSON sidecar (WEIGHTS with .json), which export manifests pass on to the apps."""
    import dataclasses

    from invdn_mobile.atomic import atomic_write_bytes
    from invdn_mobile.denoise import denoise_array, ensemble_fn, load_denoiser, resolve_weights
    from invdn_mobile.device import pick_device
    from invdn_mobile.imageio import list_images
    from invdn_mobile.model.checkpoint import read_meta, write_meta
    from invdn_mobile.strength import CALIBRATION_NOISES, calibration_crops, parse_scales
    from invdn_mobile.strength import calibrate as fit

    path = resolve_weights(weights, variant or "paper")
    denoiser, _ = load_denoiser(path, variant, pick_device(device))
    files = list_images(data) if data.is_dir() else []
    if not files:
        raise InvdnError(f"{data}: no photos to calibrate on")
    noises = noise or list(CALIBRATION_NOISES)
    scale_list = parse_scales(scales)
    pieces = calibration_crops(files, crop, crops, seed, scale_list)
    fn, multiple = ensemble_fn(denoiser), denoiser.model.config.multiple
    with progress_bar() as bar:
        task = bar.add_task("calibrate", total=len(noises) * len(pieces))
        curve, samples = fit(
            lambda noisy: denoise_array(noisy, fn, 256, 32, multiple),
            pieces,
            noises,
            seed,
            on_step=lambda what: bar.update(task, description=what, advance=1),
        )
    names = sorted({p.name for p in files})
    curve = dataclasses.replace(
        curve,
        calibration={
            "photos": names,
            "crop": crop,
            "crops_per_photo": crops,
            "scales": scale_list,
            "noises": noises,
            "seed": seed,
        },
    )
    typer.echo("| estimated sigma | strength |\n|---|---|")
    for x, y in zip(curve.sigma, curve.strength):
        typer.echo(f"| {x:g} | {y:.3f} |")
    if samples_json:
        atomic_write_bytes(samples_json, (json.dumps(samples, indent=1) + "\n").encode())
    if not dry_run:
        written = write_meta(path, {**read_meta(path), "strength": curve.to_dict()})
        typer.echo(f"wrote the curve into {written}", err=True)


def _frontier(data, noise, variants, baselines, artifacts, seed, limit, as_json, save) -> None:
    from invdn_mobile.bench.harness import Settings
    from invdn_mobile.evaluate import frontier as fr
    from invdn_mobile.model.variants import get_variant

    for v in variants:
        get_variant(v)
    with progress_bar() as bar:
        task = bar.add_task("frontier", total=None)
        result = fr.frontier(
            data,
            noise,
            variants,
            baselines,
            artifacts,
            Settings(warmup=1, repeats=10, max_seconds=20),
            seed,
            limit,
            on_step=lambda what: bar.update(task, description=what, advance=1),
        )
    if save:
        for path in fr.save(result, save):
            typer.echo(f"wrote {path}", err=True)
    typer.echo(json.dumps(result, indent=1) if as_json else fr.markdown(result))
