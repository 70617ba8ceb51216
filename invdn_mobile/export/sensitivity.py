"""INT8 per-layer sensitivity: how much PSNR vs clean each layer group loses when it alone is quantized, and which
groups must stay in float for the whole model to pass the INT8 gate.

A format takes part by giving its backend module four hooks: ``fp32_model(denoiser, tile)``,
``layer_groups(model) -> {label: keep_float patterns}``, ``quantize_int8(model, calibration, keep_float, precision)``
and ``run_model(model, nchw_batch, z) -> nchw_batch``.

The search runs at a small tile (``SEARCH_TILE``) on seeded noisy crops of the search photos (``samples/clean``) and
on the generated stress photos of the calibration seeds (the kinds of content that break INT8 ranges: saturated
colour, highlights, fine texture; never the parity gate's seed), so it costs minutes, not hours. Like the gate, it
reads the mean drop and the worst crop's: a group that costs little on average but much on one photo is found. The
exported artifact is then gated at its own tile on the held-out and stress photos as always.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from invdn_mobile.errors import InvdnError
from invdn_mobile.export.integer import prepared
from invdn_mobile.export.photos import calibration_data, generated_pairs, noisy_crops, sample_photos
from invdn_mobile.export.registry import ExportOptions, get_format
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
    base_psnr: float  # FP32 PSNR vs clean on the search crops (mean)
    all_int8_drop: float  # every group quantized: mean drop
    layers: list[
        tuple[str, float, float]
    ]  # (group, mean drop, worst crop's drop) when only it is quantized, worst first
    keep_float: list[str] = field(default_factory=list)  # chosen groups kept in float
    patterns: list[str] = field(default_factory=list)  # their keep_float patterns
    chosen_drop: float = float("nan")  # mean drop with the chosen groups kept in float
    chosen_worst: float = float("nan")  # the worst crop's drop with them
    tried: list[tuple[int, float, float]] = field(default_factory=list)  # (groups kept in float, mean, worst)
    all_int8_worst: float = float("nan")
    crops: int = 0  # search crops (photo crops + generated stress crops)

    def to_dict(self) -> dict:
        r = lambda v: round(float(v), 4)  # noqa: E731
        return {
            "format": self.format,
            "tile": self.tile,
            "crops": self.crops,
            "base_psnr": r(self.base_psnr),
            "all_int8_drop_db": r(self.all_int8_drop),
            "all_int8_worst_db": r(self.all_int8_worst),
            "layers": [{"group": g, "drop_db": r(d), "worst_db": r(w)} for g, d, w in self.layers],
            "keep_float": self.keep_float,
            "chosen_drop_db": r(self.chosen_drop),
            "chosen_worst_db": r(self.chosen_worst),
            "tried": [{"kept_float": k, "drop_db": r(d), "worst_db": r(w)} for k, d, w in self.tried],
        }

    def table(self) -> str:
        lines = ["| layer group | drop when only it is INT8: mean / worst crop (dB) |", "|---|---|"]
        lines += [f"| {g} | {d:+.3f} / {w:+.3f} |" for g, d, w in self.layers]
        lines.append(f"| (all INT8) | {self.all_int8_drop:+.3f} / {self.all_int8_worst:+.3f} |")
        return "\n".join(lines)


def _psnr(clean: np.ndarray, out: np.ndarray) -> np.ndarray:
    """PSNR (dB) per image of NCHW batches, the output clipped to [0, 1]."""
    import torch

    return psnr_batch(torch.from_numpy(np.clip(out, 0, 1)), torch.from_numpy(clean)).numpy().astype(np.float64)


def search_crops(denoiser: Denoiser, images: Path | None, tile: int) -> tuple[np.ndarray, np.ndarray]:
    """The search's clean and noisy NCHW crops: :data:`EVAL_CROPS` seeded crops of the search photos and the
    generated stress crops of the calibration seeds that the float model handles (noise seed 1: not the
    calibration's draw)."""
    clean, noisy = noisy_crops(sample_photos("clean", images), tile, EVAL_CROPS, seed=1)
    g_clean, g_noisy = generated_pairs(tile, 1, denoiser)
    return np.concatenate([clean, g_clean]), np.concatenate([noisy, g_noisy])


def search(
    fmt_name: str,
    denoiser: Denoiser,
    images: Path | None,
    calibration: Path | None,
    target: tuple[float, float],
    tile: int = SEARCH_TILE,
    log=print,
    progress=None,
    precision: str = "int8",
) -> Sensitivity:
    """Measure every group's damage (mean and worst-crop drop), then keep the worst 0, 1, 2, 3, 4, 8, 16, ... groups
    in float until the mean drop is at most ``target[0]`` and the worst crop's at most ``target[1]`` (or every group
    is float). Groups rank by how far they go past the target, the larger of the two ratios."""

    backend = get_format(fmt_name).module()
    if not hasattr(backend, "quantize_int8") or precision not in get_format(fmt_name).searched:
        raise InvdnError(f"--sensitivity is not available for {fmt_name} {precision} (it quantizes weights only)")
    z = denoiser.z_for(tile, tile).numpy() if denoiser.z_input else None
    calib = calibration_data(calibration, tile, CALIBRATION_CROPS, z)
    clean, noisy = search_crops(denoiser, images, tile)
    fp32 = backend.fp32_model(denoiser, tile)
    base = _psnr(clean, backend.run_model(fp32, noisy, z))

    def drop(keep: list[str]) -> tuple[float, float]:
        d = base - _psnr(clean, backend.run_model(backend.quantize_int8(fp32, calib, keep, precision), noisy, z))
        return float(d.mean()), float(d.max())

    def over(d: tuple[float, float]) -> float:
        return max(d[0] / target[0], d[1] / target[1])

    groups = backend.layer_groups(fp32)
    all_patterns = [p for pats in groups.values() for p in pats]
    mean, worst = drop([])
    result = Sensitivity(fmt_name, tile, float(base.mean()), mean, [], all_int8_worst=worst, crops=len(clean))
    log(
        f"sensitivity ({fmt_name} {precision}, {len(groups)} layer groups, tile {tile}, {len(clean)} crops): "
        f"all INT8 drop {mean:+.3f} dB mean, {worst:+.3f} dB worst crop"
    )
    for label, pats in groups.items():
        others = [p for p in all_patterns if p not in pats]
        result.layers.append((label, *drop(others)))
        if progress:
            progress()
    result.layers.sort(key=lambda item: -over(item[1:]))
    k = 0
    while True:
        chosen = [label for label, *_ in result.layers[:k]]
        patterns = [p for label in chosen for p in groups[label]]
        d = (result.all_int8_drop, result.all_int8_worst) if k == 0 else drop(patterns)
        result.tried.append((k, *d))
        log(f"  {k} group(s) kept in float: drop {d[0]:+.3f} dB mean, {d[1]:+.3f} dB worst crop")
        if over(d) <= 1 or k >= len(groups):
            result.keep_float, result.patterns = chosen, patterns
            result.chosen_drop, result.chosen_worst = d
            return result
        k = min(len(groups), k + 1 if k < SINGLE_STEPS else 2 * k)


def choose_keep_float(
    fmt: str,
    precision: str,
    model,
    meta: dict,
    images,
    calibration,
    export_tile: int,
    options: ExportOptions | None = None,
    log=print,
    progress=None,
) -> tuple[Sensitivity, dict]:
    """Run the search for one export (at :data:`SEARCH_TILE`, or the export's tile if smaller; on the model as the
    export rewrites it, e.g. ``split_concats``) and keep the worst groups in float until the mean and the worst
    drop are half the precision's gate; returns the search and the export-option fields it implies (``keep_float``
    and ``sensitivity``, the record for the manifest)."""
    z = meta.get("z", {})
    tile = min(SEARCH_TILE, export_tile)
    denoiser = Denoiser(model, tile=(tile, tile), seed=int(z.get("seed", 0)), z_scale=float(z.get("scale", 1.0)))
    denoiser = prepared(denoiser.eval(), options or ExportOptions())
    gate = GATES[precision]
    target = (gate.max_drop_db / 2, gate.max_drop_worst_db / 2)
    result = search(fmt, denoiser, images, calibration, target, tile, log=log, progress=progress, precision=precision)
    return result, {"keep_float": tuple(result.patterns), "sensitivity": result.to_dict()}
