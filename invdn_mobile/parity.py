"""Parity: run artifacts on real photos (single tiles and whole photos through the shared tiler) against the PyTorch
FP32 denoiser and against the clean ground truth."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from invdn_mobile.denoise import denoise_array, ensemble_fn
from invdn_mobile.errors import InvdnError
from invdn_mobile.export.registry import GATES
from invdn_mobile.imageio import list_images, read_image
from invdn_mobile.metrics import psnr, ssim
from invdn_mobile.noise import make_noisy
from invdn_mobile.tiling import default_overlap, iter_tiles, plan

DEFAULT_NOISE = "camera:iso3200"


@dataclass
class ParityRow:
    artifact: str
    format: str
    precision: str
    max_abs_err: float  # whole photos through the tiler, vs PyTorch FP32
    tile_max_abs_err: float  # single tiles, vs PyTorch FP32
    psnr_vs_torch: float
    psnr_vs_clean: float
    ssim_vs_clean: float
    torch_psnr_vs_clean: float
    drop_db: float
    images: int
    finite: bool
    gate_passed: bool | None = None
    gate_failures: tuple[str, ...] = ()
    skipped: str | None = None

    def to_dict(self) -> dict:
        d = asdict(self)
        for k, v in d.items():
            if isinstance(v, float):
                d[k] = None if math.isnan(v) else round(v, 8 if "err" in k else 4)
        d["gate_failures"] = list(self.gate_failures)
        return d


def load_photos(images: Path, noise: str = DEFAULT_NOISE, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """(clean, noisy) pairs from a folder of clean photos; the noise is seeded per photo."""
    files = list_images(images)
    if not files:
        raise InvdnError(f"{images}: no photos for parity")
    pairs = []
    for i, f in enumerate(files):
        clean = read_image(f).rgb
        pairs.append((clean, make_noisy(clean, noise, seed + i)))
    return pairs


def reference_outputs(denoiser, photos, tile: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """PyTorch FP32 outputs: first tile of each photo, and each whole photo through the tiler."""
    fn = ensemble_fn(denoiser)
    tiles = [fn(first_tile(noisy, tile))[0] for _, noisy in photos]
    whole = [denoise_array(noisy, fn, tile, default_overlap(tile)) for _, noisy in photos]
    return tiles, whole


def first_tile(noisy: np.ndarray, tile: int) -> np.ndarray:
    t = next(iter_tiles(noisy, plan(*noisy.shape[:2], tile=tile, overlap=default_overlap(tile))))
    return t.transpose(2, 0, 1)[None].astype(np.float32)


def measure(name, fmt, precision, runner, photos, reference, tile: int) -> ParityRow:
    ref_tiles, ref_whole = reference
    tile_err, err, p_torch, p_clean, s_clean, p_ref, finite = 0.0, 0.0, [], [], [], [], True
    for (clean, noisy), ref_tile, ref in zip(photos, ref_tiles, ref_whole):
        out_tile = runner.run(first_tile(noisy, tile))[0]
        out = denoise_array(noisy, runner.run, tile, default_overlap(tile))
        finite &= bool(np.isfinite(out_tile).all() and np.isfinite(out).all())
        tile_err = max(tile_err, float(np.abs(out_tile - ref_tile).max()))
        err = max(err, float(np.abs(out - ref).max()))
        p_torch.append(psnr(np.clip(ref, 0, 1), out))
        p_clean.append(psnr(clean, out))
        s_clean.append(ssim(clean, out))
        p_ref.append(psnr(clean, ref))
    row = ParityRow(
        name,
        fmt,
        precision,
        err,
        tile_err,
        float(np.mean(p_torch)),
        float(np.mean(p_clean)),
        float(np.mean(s_clean)),
        float(np.mean(p_ref)),
        float(np.mean(p_ref) - np.mean(p_clean)),
        len(photos),
        finite,
    )
    failures = gate_failures(row)
    row.gate_passed, row.gate_failures = not failures, tuple(failures)
    return row


def skipped_row(name, fmt, precision, reason: str, problems: list[str]) -> ParityRow:
    """The row of an artifact that cannot run here: its gate is its structural validation."""
    nan = float("nan")
    row = ParityRow(name, fmt, precision, nan, nan, nan, nan, nan, nan, nan, 0, True, skipped=reason)
    row.gate_passed, row.gate_failures = not problems, tuple(problems)
    return row


def gate_failures(row: ParityRow) -> list[str]:
    """Why ``row`` fails its precision's gate (empty: it passes). NaN or Inf anywhere fails."""
    gate = GATES[row.precision]
    failures = []
    if not row.finite:
        failures.append("NaN or Inf in the output")
    if gate.max_abs_err is not None and not row.max_abs_err <= gate.max_abs_err:
        failures.append(f"max abs error {row.max_abs_err:.2e} > {gate.max_abs_err:.0e}")
    if gate.min_psnr_vs_torch is not None and not row.psnr_vs_torch >= gate.min_psnr_vs_torch:
        failures.append(f"PSNR vs PyTorch {row.psnr_vs_torch:.2f} dB < {gate.min_psnr_vs_torch} dB")
    if gate.max_drop_db is not None and not row.drop_db <= gate.max_drop_db:
        failures.append(f"drop vs clean {row.drop_db:.3f} dB > {gate.max_drop_db} dB")
    return failures


def markdown(rows: list[ParityRow]) -> str:
    lines = [
        "| artifact | format | precision | max abs err | tile max abs err | PSNR vs torch | PSNR vs clean | drop (dB) "
        "| gate |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        if r.skipped:
            valid = "valid" if r.gate_passed else "INVALID: " + "; ".join(r.gate_failures)
            lines.append(f"| {r.artifact} | {r.format} | {r.precision} | | | | | | {valid}; {r.skipped} |")
            continue
        gate = "pass" if r.gate_passed else "FAIL: " + "; ".join(r.gate_failures)
        lines.append(
            f"| {r.artifact} | {r.format} | {r.precision} | {r.max_abs_err:.2e} | {r.tile_max_abs_err:.2e} "
            f"| {r.psnr_vs_torch:.2f} | {r.psnr_vs_clean:.2f} | {r.drop_db:+.3f} | {gate} |"
        )
    return "\n".join(lines)
