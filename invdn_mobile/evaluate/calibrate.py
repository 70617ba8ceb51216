"""Fitting a weights file's noise-adaptive strength curve (``invdn calibrate``): noisy copies of clean photos through
the denoiser, the best blend of input and output per copy, and the curve through them, recorded with how it was
made."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

from invdn_mobile.denoise import denoise_array, ensemble_fn, load_denoiser
from invdn_mobile.device import pick_device
from invdn_mobile.errors import InvdnError
from invdn_mobile.imageio import list_images
from invdn_mobile.strength import CALIBRATION_NOISES, StrengthCurve, calibration_crops
from invdn_mobile.strength import calibrate as fit
from invdn_mobile.tiling import DEFAULT_OVERLAP, DEFAULT_TILE


def calibrate_weights(
    weights: Path,
    variant: str | None,
    data: Path,
    noises: list[str] | None = None,
    crop: int = 256,
    crops: int = 1,
    scales: list[float] = (1.0, 0.5, 0.25),
    seed: int = 0,
    device: str = "auto",
    on_total: Callable[[int], None] | None = None,
    on_step: Callable[[str], None] | None = None,
) -> tuple[StrengthCurve, list]:
    """The curve of ``weights`` fitted on clean photos in ``data`` at every noise of ``noises`` (default
    :data:`~invdn_mobile.strength.CALIBRATION_NOISES`), with its ``calibration`` record, and the samples it was
    fitted to. ``on_total`` hears the number of steps (noises x crops) before the first, ``on_step`` each one."""
    denoiser, _ = load_denoiser(weights, variant, pick_device(device))
    files = list_images(data) if Path(data).is_dir() else []
    if not files:
        raise InvdnError(f"{data}: no photos to calibrate on")
    noises = list(noises or CALIBRATION_NOISES)
    pieces = calibration_crops(files, crop, crops, seed, list(scales))
    fn, multiple = ensemble_fn(denoiser), denoiser.model.config.multiple
    if on_total:
        on_total(len(noises) * len(pieces))
    curve, samples = fit(
        lambda noisy: denoise_array(noisy, fn, DEFAULT_TILE, DEFAULT_OVERLAP, multiple),
        pieces,
        noises,
        seed,
        on_step=on_step,
    )
    record = {
        "photos": sorted({p.name for p in files}),
        "crop": crop,
        "crops_per_photo": crops,
        "scales": list(scales),
        "noises": noises,
        "seed": seed,
    }
    return dataclasses.replace(curve, calibration=record), samples
