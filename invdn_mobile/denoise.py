"""Denoise photos with a PyTorch InvDN: tiling, Monte-Carlo self-ensemble (paper 4.5) and the x8 flip/rotate
ensemble, for files, folders and globs."""

from __future__ import annotations

import glob
import math
import os
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch

from invdn_mobile.atomic import atomic_path
from invdn_mobile.errors import InvdnError
from invdn_mobile.imageio import IMAGE_SUFFIXES, Photo, PngWriter, Raster, list_images, quantize, write_image
from invdn_mobile.model import Denoiser
from invdn_mobile.model.checkpoint import default_weights, load_weights
from invdn_mobile.strength import blend
from invdn_mobile.tiling import plan, run_banded, run_tiled
from invdn_mobile.timer import Timer

TileFn = Callable[[np.ndarray], np.ndarray]

# Noise sigma (8-bit levels, as estimated by strength.estimate_sigma) under which the bundled v2 weights alone remove
# more detail than noise. On the 8 test photos (docs/quality.md, "Limits") the output beats the input from AWGN sigma 10
# on (paper +0.9 dB, compact +0.1) and loses to it at camera ISO 400 (estimated sigma 7-9: -1.6 / -2.7 dB) and at AWGN
# sigma 5 (-4.9 / -6.3 dB). `--strength auto` (the weights' calibrated curve) is the fix; this warns without it.
LOW_NOISE_SIGMA = 10.0
NOTE_BELOW = 0.8  # --strength auto: a per-photo note when less than this part of the model's change is kept
ENCODE_ROWS = 32  # rows blended with the noisy photo, rounded and written at a time by denoise_file's writer


def photo_strength(
    sigma: float, name: object, strength_fn: Callable[[float], float] | None, auto: bool
) -> tuple[float, str | None]:
    """The strength to denoise a photo of estimated noise ``sigma`` with (``strength_fn`` of it; None: the model
    alone, 1) and a line for the user about ``name``: with ``auto``, how much of the model's change was kept (when
    below :data:`NOTE_BELOW`); with the model alone on a photo with little noise, a warning."""
    if strength_fn is None:
        if sigma >= LOW_NOISE_SIGMA:
            return 1.0, None
        return 1.0, (
            f"warning: {name}: little noise (estimated sigma {sigma:.1f} in 8-bit levels): below about "
            f"{LOW_NOISE_SIGMA:g} this model alone removes more detail than noise"
            + ("; `invdn calibrate` fits these weights a strength curve" if auto else "; --strength auto adapts to it")
        )
    s = float(strength_fn(sigma))
    if auto and s < NOTE_BELOW:
        return (
            s,
            f"note: {name}: estimated noise sigma {sigma:.1f}: kept {s:.0%} of the model's change (--strength 1: all)",
        )
    return s, None


def resolve_weights(weights: Path | None, variant: str) -> Path:
    """``weights`` when given, else the bundled default of ``variant``."""
    if weights is not None:
        return Path(weights)
    bundled = default_weights(variant)
    if bundled is None:
        raise InvdnError(f"no bundled weights for variant {variant!r} in this install: pass --weights PATH")
    return bundled


def load_denoiser(
    weights: Path | None,
    variant: str | None,
    device: torch.device,
    seed: int | None = None,
    z_scale: float | None = None,
):
    """The seeded :class:`Denoiser` for a weights file (default: the bundled one); ``seed`` and ``z_scale`` override
    the file's own z_HF seed and scale."""
    path = resolve_weights(weights, variant or "paper")
    model, meta = load_weights(path, variant)
    z = meta.get("z", {})
    seed = z.get("seed", 0) if seed is None else seed
    if z_scale is not None and not (math.isfinite(z_scale) and z_scale >= 0):
        raise InvdnError(f"--z-scale must be a finite number >= 0, got {z_scale}")
    z_scale = z.get("scale", 1.0) if z_scale is None else z_scale
    return Denoiser(model.to(device), seed=seed, z_scale=z_scale).eval(), meta


def _transform(x: torch.Tensor, code: int) -> torch.Tensor:
    x = torch.rot90(x, code % 4, dims=(-2, -1))
    return torch.flip(x, dims=(-1,)) if code >= 4 else x


def _untransform(x: torch.Tensor, code: int) -> torch.Tensor:
    if code >= 4:
        x = torch.flip(x, dims=(-1,))
    return torch.rot90(x, -(code % 4), dims=(-2, -1))


def ensemble_fn(denoiser: Denoiser, samples: int = 1, tta: bool = False, device=None) -> TileFn:
    """NCHW float32 numpy -> NCHW float32: the mean over ``samples`` z_HF seeds x (8 if ``tta``) transforms."""
    if samples < 1:
        raise InvdnError(f"--samples must be at least 1, got {samples}")
    device = device or next(denoiser.parameters()).device
    seeds = [denoiser.seed + i for i in range(samples)]
    codes = range(8) if tta else (0,)

    @torch.inference_mode()
    def fn(batch: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(batch).to(device)
        acc = torch.zeros_like(x)
        for code in codes:
            xt = _transform(x, code)
            for seed in seeds:
                z = denoiser.z_for(xt.shape[-2], xt.shape[-1], seed).to(device)
                acc += _untransform(denoiser(xt, z), code)
        return (acc / (len(codes) * len(seeds))).cpu().numpy()

    return fn


def whole_plan(height: int, width: int, multiple: int) -> tuple[int, int]:
    """Padded size for running a photo untiled: the next multiples of ``multiple``."""
    return -(-height // multiple) * multiple, -(-width // multiple) * multiple


def denoise_array(
    rgb: np.ndarray, fn: TileFn, tile: int, overlap: int, multiple: int = 4, batch: int = 1, on_tile=None
) -> np.ndarray:
    """Denoise an HWC float32 image: tiled when ``tile`` > 0, else whole (padded to ``multiple`` and cropped back)."""
    h, w = rgb.shape[:2]
    if tile <= 0:
        ph, pw = whole_plan(h, w, multiple)
        padded = np.pad(rgb, ((0, ph - h), (0, pw - w), (0, 0)), mode="symmetric")
        out = fn(padded.transpose(2, 0, 1)[None].astype(np.float32))[0].transpose(1, 2, 0)[:h, :w]
        if on_tile:
            on_tile(1)
        return np.ascontiguousarray(out)
    return run_tiled(rgb, fn, plan(h, w, tile, overlap, multiple), batch, on_tile)


def tiles_for(size: tuple[int, int], tile: int, overlap: int, multiple: int = 4) -> int:
    return 1 if tile <= 0 else len(plan(size[0], size[1], tile, overlap, multiple))


def expand_inputs(inputs: list[str]) -> tuple[list[Path], list[tuple[str, str]]]:
    """Files, folders (their images) and globs -> (paths, failures). Nothing that exists is dropped silently."""
    paths: list[Path] = []
    failures: list[tuple[str, str]] = []
    for item in inputs:
        if not item.strip():
            failures.append((repr(item), "empty path"))
        elif any(ch in item for ch in "*?["):
            matches = sorted(Path(m) for m in glob.glob(item, recursive=True))
            files = [m for m in matches if m.is_file() and m.suffix.lower() in IMAGE_SUFFIXES]
            if not files:
                failures.append((item, "no image files match this pattern"))
            paths.extend(files)
        elif Path(item).is_dir():
            files = list_images(Path(item))
            if not files:
                failures.append((item, "folder holds no image files"))
            paths.extend(files)
        else:
            paths.append(Path(item))
    return paths, failures


def output_paths(paths: list[Path], outdir: Path, suffixes: tuple[str, ...] = ("",)) -> list[list[Path] | InvdnError]:
    """For each input, its outputs ``OUTDIR/<stem><suffix>.png`` (one per suffix). No two outputs of a run share a
    path: a name already given out gets ``-2``, ``-3``... before the suffix. Inputs are never overwritten, and when
    OUTDIR holds inputs itself no file already there is (names go on to the next free number); elsewhere an existing
    output of an earlier run is replaced. An input whose outputs would replace an input gets an :class:`InvdnError`."""
    inputs = {os.path.realpath(p) for p in paths}
    keep_existing = os.path.realpath(outdir) in {os.path.dirname(k) for k in inputs}
    used: set[str] = set()
    out: list[list[Path] | InvdnError] = []
    for p in paths:
        n = 1
        while True:
            stem = p.stem if n == 1 else f"{p.stem}-{n}"
            targets = [outdir / f"{stem}{suffix}.png" for suffix in suffixes]
            keys = [os.path.realpath(t) for t in targets]
            taken = keep_existing and any(os.path.lexists(t) for t in targets)
            if used.isdisjoint(keys) and not taken:
                break
            n += 1
        used.update(keys)
        clash = next((t for t, k in zip(targets, keys) if k in inputs), None)
        if clash is None:
            out.append(targets)
        else:
            out.append(InvdnError(f"{p}: its output {clash} would overwrite an input; choose another -o folder"))
    return out


def denoise_photo(
    photo: Photo,
    fn: TileFn,
    tile: int,
    overlap: int,
    multiple: int,
    batch: int = 1,
    on_tile=None,
    strength: float = 1.0,
):
    """The denoised photo; ``strength`` < 1 keeps that part of the model's change (:mod:`invdn_mobile.strength`)."""
    rgb = blend(photo.rgb, denoise_array(photo.rgb, fn, tile, overlap, multiple, batch, on_tile), strength)
    return photo.with_rgb(np.clip(rgb, 0.0, 1.0))


def denoise_file(
    raster: Raster,
    target: Path,
    fn: TileFn,
    tile: int,
    overlap: int,
    multiple: int,
    batch: int = 1,
    on_tile=None,
    strength: float | Callable[[], float] = 1.0,
    timer: Timer | None = None,
) -> None:
    """Denoise ``raster`` into the PNG ``target``, streaming: tile rows go through ``fn`` band by band
    (:func:`~invdn_mobile.tiling.run_banded`), each finished band is blended with the noisy rows at ``strength``,
    quantized and written by a worker thread while the next tiles run. In memory: the raster's one integer copy and
    a few bands of float. The same pixels as :func:`denoise_photo` + :func:`~invdn_mobile.imageio.write_image`. The
    file appears only when complete (atomic). ``strength`` may be a function, called once on the writer thread
    before the first band: the noise estimate it needs then runs beside the first tiles. ``tile`` 0 runs the photo
    whole, in float, as :func:`denoise_photo` does."""
    timer = timer or Timer()
    if tile <= 0:
        photo = raster.to_photo()
        s = strength() if callable(strength) else strength
        with timer("network"):
            result = denoise_photo(photo, fn, tile, overlap, multiple, batch, on_tile, s)
        with timer("encode"):
            write_image(target, result)
        return
    height, width = raster.size
    try:
        with atomic_path(target) as tmp, open(tmp, "wb") as file, ThreadPoolExecutor(1, "invdn-png") as pool:
            png = PngWriter(file, height, width, raster.bits, raster.pixels.shape[2], raster.icc)
            pending: deque = deque()
            level: list[float] = []

            def write(y0: int, out: np.ndarray) -> None:  # on the worker thread, band after band
                if not level:
                    level.append(strength() if callable(strength) else strength)
                with timer("encode"):
                    for r in range(0, out.shape[0], ENCODE_ROWS):  # a few rows at a time: small temporaries
                        rows, a, b = out[r : r + ENCODE_ROWS], y0 + r, min(y0 + r + ENCODE_ROWS, y0 + out.shape[0])
                        rgb = rows if level[0] >= 1 else blend(raster.rgb(a, b), rows, level[0])
                        png.write(quantize(rgb, raster.bits, raster.gray, raster.alpha(a, b)))

            def finish(y0: int, out: np.ndarray) -> None:
                pending.append(pool.submit(write, y0, out))
                while len(pending) > 1:  # at most one finished band waits for the writer
                    with timer("wait"):
                        pending.popleft().result()

            run_banded(raster.rgb, fn, plan(height, width, tile, overlap, multiple), finish, batch, on_tile, timer)
            with timer("wait"):
                while pending:
                    pending.popleft().result()
            with timer("encode"):
                png.close()
    except OSError as exc:
        raise InvdnError(f"{target}: cannot write ({exc.strerror or exc})") from None
