"""``invdn denoise``: denoise photos with the PyTorch model, or with an exported artifact (``--artifact``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from invdn_mobile.cli.common import (
    SEED_MAX,
    DeviceOpt,
    OverlapOpt,
    StrengthOpt,
    VariantOpt,
    WeightsOpt,
    cli_errors,
    each_photo,
    fail,
    progress_bar,
)
from invdn_mobile.tiling import DEFAULT_TILE


@cli_errors
def denoise(
    inputs: Annotated[list[str], typer.Argument(help="Photos, folders of photos, or globs (quote them).")],
    outdir: Annotated[Path, typer.Option("-o", "--output", help="Folder for the denoised PNGs.")] = Path("denoised"),
    weights: WeightsOpt = None,
    variant: VariantOpt = None,
    tile: Annotated[
        int | None,
        typer.Option(
            help="Tile size (a multiple of 4, at most 4096); 0 runs each photo whole "
            f"[default: {DEFAULT_TILE}; with --artifact: "
            "the artifact's].",
            show_default=False,
        ),
    ] = None,
    overlap: OverlapOpt = None,
    samples: Annotated[
        int, typer.Option(min=1, max=64, help="Monte-Carlo self-ensemble: average over N z_HF samples.")
    ] = 1,
    tta: Annotated[bool, typer.Option("--tta", help="Average over the 8 flips/rotations (8x slower).")] = False,
    seed: Annotated[
        int | None, typer.Option(min=0, max=SEED_MAX, help="z_HF seed (default: the one recorded with the weights).")
    ] = None,
    batch: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=256,
            help="Tiles per forward call [default: 32 on CUDA, where one tile at a time leaves the GPU waiting on "
            "kernel launches (docs/benchmarks.md), 1 on a CPU].",
            show_default=False,
        ),
    ] = None,
    strength: StrengthOpt = "auto",
    device: DeviceOpt = "auto",
    threads: Annotated[
        int | None,
        typer.Option(
            min=1, help="CPU threads of the PyTorch model [default: torch's, every core].", show_default=False
        ),
    ] = None,
    profile: Annotated[
        bool,
        typer.Option(
            "--profile",
            help="Print each photo's time per step (decode, sigma estimate, tile cutting, network, blend, encode) "
            "and the threads used.",
        ),
    ] = False,
    artifact: Annotated[
        Path | None,
        typer.Option(
            "--artifact",
            help="Run an exported artifact instead of the PyTorch model (ONNX, TFLite, or a Core ML package through "
            "the reference evaluator of its program), with the tile, z and strength curve of the manifest.json "
            "beside it: what the target will produce, on your photo.",
        ),
    ] = None,
) -> None:
    """Denoise photos of any size with the bundled weights (or yours), or with an exported artifact.

    16-bit stays 16-bit, alpha is kept untouched, EXIF orientation is applied, grayscale stays grayscale, the ICC
    profile is kept. Writes OUTDIR/<name>.png (default ./denoised/): names that repeat get -2, -3...; an input is never
    overwritten, nor any file when OUTDIR holds the inputs. A photo that fails is reported and the rest go on.

    The model alone loses detail on photos with little noise (sigma below about 10 in 8-bit levels), so by default
    (--strength auto) each photo's noise is estimated and only part of the model's change is kept where the weights'
    calibrated curve says so (a note when under 80 %); without a curve, a warning.

    With --artifact an exported artifact does the denoising through the same tiler and strength: what a phone or the
    browser will produce, on your photo.

    Examples: `invdn denoise photo.jpg` (writes denoised/photo.png); `invdn denoise shots/ -o out --variant compact`;
    `invdn denoise "raw/*.png" -o out --samples 4 --tta` (slower, a little better);
    `invdn denoise photo.jpg --artifact export/out/ios-int8/invdn-compact-256-int8.mlpackage`."""
    from concurrent.futures import ThreadPoolExecutor

    from invdn_mobile.denoise import denoise_file, ensemble_fn, load_denoiser, photo_strength, tiles_for
    from invdn_mobile.imageio import open_raster
    from invdn_mobile.strength import curve_of, raster_sigma
    from invdn_mobile.strength import resolve as resolve_strength
    from invdn_mobile.tiling import check_options
    from invdn_mobile.timer import Timer

    auto = strength.strip().lower() == "auto"
    if artifact is not None:
        if threads is not None:
            fail("--threads cannot go with --artifact (the artifact's runtime sets its own threads)")
        fn, meta, tile, multiple = _artifact_fn(artifact, tile, weights, variant, samples, tta, seed, device)
        using = "the artifact runtime's own threads"
    else:
        import torch

        from invdn_mobile.device import pick_device

        if threads is not None:
            torch.set_num_threads(threads)
        torch_device = pick_device(device)
        denoiser, meta = load_denoiser(weights, variant, torch_device, seed)
        tile = DEFAULT_TILE if tile is None else tile
        multiple = denoiser.model.config.multiple
        fn = ensemble_fn(denoiser, samples, tta, torch_device)
        if batch is None:
            batch = 32 if torch_device.type == "cuda" else 1
        using = (
            f"torch {torch.get_num_threads()} intra-op / {torch.get_num_interop_threads()} inter-op on {torch_device}"
        )
    batch = batch or 1
    strength_fn = resolve_strength(strength, curve_of(meta))
    overlap = check_options(tile, overlap, multiple, whole=artifact is None)
    timers: dict = {}

    def read(path):
        timers[path] = timer = Timer()
        with timer("total"), timer("decode"):  # a PNG: its header; its rows are decoded beside the first tiles
            return open_raster(path, stream=True)

    with progress_bar() as bar:
        task = bar.add_task("denoise", total=None)

        def make(path, raster, index):
            timer = timers.pop(path)

            def sigma() -> float:  # on a worker thread, beside the first tiles
                raster.ready()  # a streamed PNG: its rows, those the first tiles need first (PngRows)
                with timer("sigma"):
                    return raster_sigma(raster)

            def strength_now() -> float:  # the writer's first band needs it
                s, message = photo_strength(noise.result(), path, strength_fn, auto)
                if message:
                    typer.echo(message, err=True)
                return s

            tiles = tiles_for(raster.size, tile, overlap, multiple)
            bar.update(task, description=path.name, total=tiles, completed=0)
            advance = lambda n: bar.advance(task, n)  # noqa: E731

            def write(target):
                with timer("total"):
                    denoise_file(raster, target, fn, tile, overlap, multiple, batch, advance, strength_now, timer)
                if raster.decoding is not None:  # the time decoding the rows, on the worker threads
                    timer.add("decode", raster.decoding.seconds)
                if profile:
                    where = f"{tiles} tile(s) of {tile}" if tile > 0 else "whole"
                    decoding = "PNG decoding and " if raster.decoding is not None else ""
                    typer.echo(
                        f"profile: {path} {raster.size[1]}x{raster.size[0]}, {where}, batch {batch}; network: {using}; "
                        f"1 worker thread each for {decoding}the sigma estimate, tile cutting, blending and PNG writing"
                    )
                    typer.echo(f"  {profile_line(timer.seconds)}")
                    peak = peak_rss_kb()
                    if peak is not None:
                        typer.echo(f"  peak resident memory so far: {peak} kB (VmHWM)")

            noise = estimator.submit(sigma)
            return [write]

        with ThreadPoolExecutor(1, "invdn-sigma") as estimator:
            each_photo(inputs, outdir, make, summary="denoised {n} photo(s)", read=read)


STEPS = ("decode", "sigma", "tiles", "network", "blend", "encode")


def peak_rss_kb() -> int | None:
    """This process's peak resident memory in kB (Linux ``VmHWM`` of its own address space: unlike a parent's
    ``wait4``, it does not count the memory of the process that spawned it); None where there is no /proc."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def profile_line(seconds: dict) -> str:
    """``--profile``'s breakdown: seconds per step. Decoding a PNG's rows (after its header: with the sigma estimate,
    and by the tile cutter for the first rows), the sigma estimate, tile cutting, blend (the feathered sums) and
    encoding (strength, rounding, PNG rows) run on worker threads beside the network; a step's seconds are its own
    threads', so steps overlap and do not add up to the total. ``host`` (the total less the network) is what the host
    adds to the wall time, whatever thread its work is on: the header, the wait for the first rows and tiles, the
    last tiles' blend and the last band's encoding."""
    parts = [f"{step} {seconds.get(step, 0.0):.3f} s" for step in STEPS]
    total = seconds.get("total", 0.0)
    host = total - seconds.get("network", 0.0)
    return " | ".join(parts + [f"total {total:.3f} s", f"host (total - network) {host:.3f} s"])


def _artifact_fn(path: Path, tile, weights, variant, samples, tta, seed, device):
    """(tile function, strength metadata, tile, multiple) of an exported artifact; options that belong to the PyTorch
    model are refused with one line."""
    from invdn_mobile.export.run import open_artifact

    given = {
        "--weights": weights is not None,
        "--variant": variant is not None,
        "--samples": samples != 1,
        "--tta": tta,
        "--seed": seed is not None,
        "--device": device != "auto",
    }
    refused = [name for name, on in given.items() if on]
    if refused:
        fail(f"{', '.join(refused)} cannot go with --artifact (the artifact fixes its weights, z and runtime)")
    runner, entry = open_artifact(path)
    own = entry["tile"][0]
    if tile is not None and tile != own:
        fail(f"--tile {tile}: {path.name} takes {own}x{own} tiles (leave --tile out)")
    gate = entry.get("gate", {})
    if gate.get("status") != "pass":
        why = "; ".join(gate.get("failures") or []) or gate.get("reason") or "no parity recorded"
        typer.echo(f"warning: {path.name} is {gate.get('status', 'unverified')} in its manifest ({why})", err=True)
    meta = {"strength": entry["strength"]} if entry.get("strength") else {}
    return runner.run, meta, own, entry["tiling"]["multiple"]
