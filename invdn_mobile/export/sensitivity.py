"""INT8 per-layer sensitivity: how much PSNR vs clean each layer group loses when it alone is quantized, and which
groups must stay in float for the whole model to pass the INT8 gate.

A format takes part by giving its backend module four hooks: ``fp32_model(denoiser, tile)``,
``layer_groups(model) -> {label: keep_float patterns}``, ``quantize_int8(model, calibration, keep_float)`` and
``run_model(model, nchw_batch, z) -> nchw_batch``.

The search runs at a small tile (``SEARCH_TILE``) on seeded noisy crops of the parity photos, so it costs minutes,
not hours; the exported artifact is then gated at its own tile on whole photos as always.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from invdn_mobile.errors import InvdnError
from invdn_mobile.export.photos import calibration_data, noisy_crops, sample_photos
from invdn_mobile.export.registry import get_format
from invdn_mobile.gates import GATES
from invdn_mobile.metrics import psnr_batch
from invdn_mobile.model import Denoiser

SEARCH_TILE = 64
EVAL_CROPS = 8
CALIBRATION_CROPS = 8
SINGLE_STEPS = 4  # keep 1, 2, 3, 4 groups in float, then 8, 16, ...


@dataclass
class Sensitivity:
    format: str
    tile: int
    base_psnr: float  # FP32 PSNR vs clean on the search crops
    all_int8_drop: float  # every group quantized
    layers: list[tuple[str, float]]  # (group, drop in dB when only it is quantized), worst first
    keep_float: list[str] = field(default_factory=list)  # chosen groups kept in float
    patterns: list[str] = field(default_factory=list)  # their keep_float patterns
    chosen_drop: float = float("nan")  # drop with the chosen groups kept in float
    tried: list[tuple[int, float]] = field(default_factory=list)  # (groups kept in float, drop)

    def to_dict(self) -> dict:
        r = lambda v: round(float(v), 4)  # noqa: E731
        return {
            "format": self.format,
            "tile": self.tile,
            "base_psnr": r(self.base_psnr),
            "all_int8_drop_db": r(self.all_int8_drop),
            "layers": [{"group": g, "drop_db": r(d)} for g, d in self.layers],
            "keep_float": self.keep_float,
            "chosen_drop_db": r(self.chosen_drop),
            "tried": [{"kept_float": k, "drop_db": r(d)} for k, d in self.tried],
        }

    def table(self) -> str:
        lines = ["| layer group | drop when only it is INT8 (dB) |", "|---|---|"]
        lines += [f"| {g} | {d:+.3f} |" for g, d in self.layers]
        lines.append(f"| (all INT8) | {self.all_int8_drop:+.3f} |")
        return "\n".join(lines)


def _psnr(clean: np.ndarray, out: np.ndarray) -> float:
    """Mean PSNR (dB) of NCHW batches, the output clipped to [0, 1]."""
    import torch

    return float(psnr_batch(torch.from_numpy(np.clip(out, 0, 1)), torch.from_numpy(clean)).mean())


def search(
    fmt_name: str,
    denoiser: Denoiser,
    images: Path | None,
    calibration: Path | None,
    target_drop: float,
    tile: int = SEARCH_TILE,
    log=print,
    progress=None,
) -> Sensitivity:
    """Measure every group's damage, then keep the worst 0, 1, 2, 3, 4, 8, 16, ... groups in float until the drop is
    at most ``target_drop`` (or every group is float)."""

    backend = get_format(fmt_name).module()
    if not hasattr(backend, "quantize_int8"):
        raise InvdnError(f"--sensitivity is not available for {fmt_name} (INT8 there quantizes weights only)")
    z = denoiser.z_for(tile, tile).numpy() if denoiser.z_input else None
    calib = calibration_data(calibration, tile, CALIBRATION_CROPS, z)
    clean, noisy = noisy_crops(sample_photos("clean", images), tile, EVAL_CROPS, seed=1)
    fp32 = backend.fp32_model(denoiser, tile)
    base = _psnr(clean, backend.run_model(fp32, noisy, z))

    def drop(keep: list[str]) -> float:
        return base - _psnr(clean, backend.run_model(backend.quantize_int8(fp32, calib, keep), noisy, z))

    groups = backend.layer_groups(fp32)
    all_patterns = [p for pats in groups.values() for p in pats]
    result = Sensitivity(fmt_name, tile, base, drop([]), [])
    log(
        f"sensitivity ({fmt_name}, {len(groups)} layer groups, tile {tile}): "
        f"all INT8 drop {result.all_int8_drop:+.3f} dB"
    )
    for label, pats in groups.items():
        others = [p for p in all_patterns if p not in pats]
        result.layers.append((label, drop(others)))
        if progress:
            progress()
    result.layers.sort(key=lambda item: -item[1])
    k = 0
    while True:
        chosen = [label for label, _ in result.layers[:k]]
        patterns = [p for label in chosen for p in groups[label]]
        d = result.all_int8_drop if k == 0 else drop(patterns)
        result.tried.append((k, d))
        log(f"  {k} group(s) kept in float: drop {d:+.3f} dB")
        if d <= target_drop or k >= len(groups):
            result.keep_float, result.patterns, result.chosen_drop = chosen, patterns, d
            return result
        k = min(len(groups), k + 1 if k < SINGLE_STEPS else 2 * k)


def choose_keep_float(
    fmt: str, precision: str, model, meta: dict, images, calibration, export_tile: int, log=print, progress=None
) -> tuple[Sensitivity, dict]:
    """Run the search for one export (at :data:`SEARCH_TILE`, or the export's tile if smaller) and keep the worst
    groups in float until the drop is half the precision's gate; returns the search and the export-option fields it
    implies (``keep_float`` and ``sensitivity``, the record for the manifest)."""
    z = meta.get("z", {})
    tile = min(SEARCH_TILE, export_tile)
    denoiser = Denoiser(model, tile=(tile, tile), seed=int(z.get("seed", 0)), z_scale=float(z.get("scale", 1.0)))
    target = GATES[precision].max_drop_db / 2
    result = search(fmt, denoiser.eval(), images, calibration, target, tile, log=log, progress=progress)
    return result, {"keep_float": tuple(result.patterns), "sensitivity": result.to_dict()}
