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
    tile: Annotated[
        int | None,
        typer.Option(
            help="Tile size for InvDN (0: whole photo) [default: the package's tile, as invdn denoise].",
            show_default=False,
        ),
    ] = None,
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
    from invdn_mobile.tiling import DEFAULT_TILE

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
            tile=DEFAULT_TILE if tile is None else tile,
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
    from invdn_mobile.atomic import atomic_write_bytes
    from invdn_mobile.denoise import resolve_weights
    from invdn_mobile.evaluate.calibrate import calibrate_weights
    from invdn_mobile.model.checkpoint import read_meta, write_meta
    from invdn_mobile.strength import parse_scales

    path = resolve_weights(weights, variant or "paper")
    with progress_bar() as bar:
        task = bar.add_task("calibrate", total=None)
        curve, samples = calibrate_weights(
            path, variant, data, noise, crop, crops, parse_scales(scales), seed, device,
            on_total=lambda n: bar.update(task, total=n),
            on_step=lambda what: bar.update(task, description=what, advance=1),
        )  # fmt: skip
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


@cli_errors
def qat(
    out: Annotated[Path, typer.Option("-o", "--out", help="Where to write the fine-tuned weights (.safetensors).")],
    variant: Annotated[str, typer.Option(help="Variant of the bundled weights to start from.")] = "compact",
    weights: Annotated[
        Path | None, typer.Option(help="Float weights to start from [default: the bundled ones].", show_default=False)
    ] = None,
    data: Annotated[
        Path | None,
        typer.Option(help="Clean training photos [default: samples/calibration].", show_default=False),
    ] = None,
    minutes: Annotated[float, typer.Option(min=0.01, help="Time budget.")] = 30.0,
    steps: Annotated[
        int | None, typer.Option(min=1, help="Stop after this many steps (sets the lr schedule).", show_default=False)
    ] = None,
    lr: Annotated[float, typer.Option(min=0.0, help="Adam learning rate (cosine to 0).")] = 2e-5,
    float_weight: Annotated[float, typer.Option(min=0.0, help="Weight of the float model's own error.")] = 1.0,
    crop: Annotated[int, typer.Option(min=16, help="Training crop size.")] = 64,
    batch: Annotated[int, typer.Option(min=1, help="Crops per step.")] = 4,
    eval_every: Annotated[int, typer.Option(min=1, help="Score (and maybe keep) the weights every N steps.")] = 250,
    device: Annotated[str, typer.Option(help="cpu or cuda.")] = "cpu",
    threads: Annotated[
        int | None, typer.Option(min=1, help="CPU threads [default: torch's].", show_default=False)
    ] = None,
) -> None:
    """Quantization-aware fine-tuning for every-op INT8 export (docs/int8.md): the weights learn to survive the
    full-integer graph's fake quantization, scored on samples/clean; the best kept, written as ordinary weights.

    Example: `invdn qat --variant compact --minutes 60 --data data/photos/train -o invdn-compact-qat.safetensors`."""
    import torch

    from invdn_mobile.export.qat import finetune
    from invdn_mobile.model.checkpoint import default_weights, load_weights, read_meta, save_weights

    if threads:
        torch.set_num_threads(threads)
    if data is not None and not data.is_dir():
        raise InvdnError(f"--data {data}: not a folder of clean photos")
    source = weights or default_weights(variant)
    if source is None:
        raise InvdnError(f"no bundled {variant} weights in this install: pass --weights PATH")
    model, _ = load_weights(source, variant)
    meta = read_meta(source)
    z = meta["z"]
    record = finetune(
        model, data, minutes, crop, batch, lr, float_weight, eval_every=eval_every, max_steps=steps, device=device,
        z=(int(z["seed"]), float(z["scale"])), log=typer.echo,
    )  # fmt: skip
    save_weights(out, model, {**meta, "qat": record | {"warm_start": Path(source).name}})
    typer.echo(f"wrote {out}", err=True)


@cli_errors
def photos(
    out: Annotated[Path, typer.Option("--out", help="Folder for train/ and test/ (and SOURCES.txt).")] = Path(
        "data/photos"
    ),
    cache: Annotated[Path, typer.Option(help="Where the downloaded wallpaper packages are kept.")] = Path("data/cache"),
    max_side: Annotated[int, typer.Option(min=64, help="Longest side of a training photo, in pixels.")] = 1600,
) -> None:
    """Build the training and held-out photo folders from Debian's wallpaper packages (apt-get download + dpkg -x,
    nothing installed) and scikit-image's samples, each photo with its licence in SOURCES.txt."""
    import shutil

    from invdn_mobile.data.photos import build

    if shutil.which("apt-get") is None or shutil.which("dpkg") is None:
        raise InvdnError("apt-get and dpkg are needed to fetch the wallpaper packages")
    lines = build(out, cache, max_side)
    typer.echo(f"wrote {len(lines)} photos under {out} (list in {out / 'SOURCES.txt'})")
