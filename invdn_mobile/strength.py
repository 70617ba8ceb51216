"""Noise-adaptive strength: how much of the model's output to keep, from the photo's own noise level.

InvDN returns its clean image through 4x-downscaled channels, so its output has a detail ceiling (about 29 dB for
the bundled weights, docs/quality.md "Limits"); on a photo with little noise it loses more detail than it removes
noise. The fix every photo app uses is a strength: ``output = noisy + s * (model - noisy)``. Here ``s`` comes from a
per-weights curve of the photo's estimated noise sigma, fitted by ``invdn calibrate`` on clean photos the user
chooses (for the bundled weights: their training photos, never the test photos) and stored in the weights' metadata
as ``"strength"``; export manifests carry it so the apps apply the same curve (web_demo/strength.js;
golden/tiling/strength.json).

The curve is fitted, not hand-set: for each calibration crop and noise level the strength that minimises the squared
error (closed form) is paired with the crop's estimated sigma; the curve is their kernel-weighted mean at fixed
knots, made non-decreasing (pool-adjacent-violators) and clipped to [0, 1]."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from invdn_mobile.errors import InvdnError
from invdn_mobile.imageio import read_image
from invdn_mobile.noise import make_noisy, parse_noise
from invdn_mobile.schema import ESTIMATOR, StrengthSpec, checked

SIGMA_KNOTS = (0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 12.0, 14.0, 17.0, 20.0, 25.0, 30.0)
BANDWIDTH = 1.0  # kernel width (sigma units) of the fit
CALIBRATION_NOISES = (
    "awgn:0",
    "awgn:2",
    "awgn:4",
    "awgn:6",
    "awgn:8",
    "awgn:10",
    "awgn:12",
    "awgn:15",
    "awgn:20",
    "awgn:25",
    "awgn:30",
    "camera:iso100",
    "camera:iso200",
    "camera:iso400",
    "camera:iso800",
    "camera:iso1600",
    "camera:iso3200",
    "camera:iso6400",
)


def estimate_sigma(rgb: np.ndarray) -> float:
    """The noise sigma of an HWC image in [0, 1], in 8-bit levels: Donoho's robust estimate, the median absolute
    finest diagonal Haar coefficient / 0.6745, averaged over the channels (texture biases it up a little).

    Ports must match it: the Haar diagonal ``(a - b - c + d) / 2`` of each 2x2 block (rows and columns from 0, an odd
    last row or column dropped), per channel the median of its absolute values (even count: the mean of the two middle
    values), the mean over channels, / 0.6745 * 255."""
    h, w = rgb.shape[0] // 2 * 2, rgb.shape[1] // 2 * 2
    if h == 0 or w == 0:
        return 0.0
    y = rgb[:h, :w].astype(np.float32)
    diag = (y[0::2, 0::2] - y[0::2, 1::2] - y[1::2, 0::2] + y[1::2, 1::2]) / 2
    return float(np.median(np.abs(diag), axis=(0, 1)).mean() / 0.6745 * 255)


def raster_sigma(raster, band: int = 512) -> float:
    """:func:`estimate_sigma` of a :class:`~invdn_mobile.imageio.Raster`'s RGB, computed on its integers band by band
    in bounded memory. Each Haar diagonal is ``k / (2 * scale)`` for an integer ``k = a - b - c + d``, so the median
    of its absolute values comes exactly from a histogram of ``|k|`` (at most 2 x 65535 + 1 bins); the result differs
    from :func:`estimate_sigma` of the float photo only by float32 rounding (under 1e-3 levels:
    tests/test_stream.py)."""
    h, w = raster.size[0] // 2 * 2, raster.size[1] // 2 * 2
    if h == 0 or w == 0:
        return 0.0
    scale = 65535 if raster.bits == 16 else 255
    channels = 1 if raster.gray else 3
    counts = np.zeros((channels, 2 * scale + 1), np.int64)
    for y in range(0, h, band):
        raster.ready(min(h, y + band))
        q = raster.pixels[y : min(h, y + band), :w, :channels].astype(np.int16 if scale == 255 else np.int32)
        k = np.abs(q[0::2, 0::2] - q[0::2, 1::2] - q[1::2, 0::2] + q[1::2, 1::2])
        for c in range(channels):
            counts[c] += np.bincount(k[:, :, c].ravel(), minlength=counts.shape[1])
    n = (h // 2) * (w // 2)
    medians = []
    for c in range(channels):  # the ((n - 1) // 2)-th and (n // 2)-th smallest |k|, averaged (np.median's rule)
        cum = np.cumsum(counts[c])
        lo, hi = np.searchsorted(cum, [(n - 1) // 2, n // 2], side="right")
        medians.append((lo + hi) / 2 / 2 / scale)
    return float(np.mean(medians) / 0.6745 * 255)


def blend(noisy: np.ndarray, denoised: np.ndarray, strength: float) -> np.ndarray:
    """``noisy + strength * (denoised - noisy)`` in float32 (strength 1: the model's output, 0: the input)."""
    if strength >= 1.0:
        return denoised.astype(np.float32, copy=False)
    noisy = noisy.astype(np.float32, copy=False)
    out = np.subtract(denoised, noisy, dtype=np.float32)
    out *= np.float32(strength)
    out += noisy
    return out


def optimal_strength(clean: np.ndarray, noisy: np.ndarray, denoised: np.ndarray) -> float:
    """The strength minimising ``|blend(noisy, denoised, s) - clean|^2`` (least squares), clipped to [0, 1]."""
    d = (denoised - noisy).astype(np.float64).ravel()
    r = (clean - noisy).astype(np.float64).ravel()
    den = float(d @ d)
    return 1.0 if den == 0 else float(np.clip((r @ d) / den, 0.0, 1.0))


@dataclass(frozen=True)
class StrengthCurve:
    """Piecewise-linear strength of the estimated sigma, constant beyond the end knots."""

    sigma: tuple[float, ...]
    strength: tuple[float, ...]
    estimator: str = ESTIMATOR
    calibration: dict | None = None

    def __call__(self, sigma: float) -> float:
        return float(np.interp(sigma, self.sigma, self.strength))

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "estimator": self.estimator,
            "sigma": [round(s, 3) for s in self.sigma],
            "strength": [round(s, 4) for s in self.strength],
            "formula": "output = noisy + s * (model - noisy); s = piecewise-linear in estimated sigma, "
            "constant beyond the ends",
        }
        if self.calibration:
            out["calibration"] = self.calibration
        return out

    @classmethod
    def from_dict(cls, value: Any, source: Path | str) -> StrengthCurve:
        """A curve from weights metadata or a manifest, checked (one-line errors naming ``source``)."""
        spec = checked(StrengthSpec, value, source, "weights metadata: strength")
        return cls(tuple(spec.sigma), tuple(spec.strength), calibration=spec.calibration)


def curve_of(meta: dict) -> StrengthCurve | None:
    """The strength curve recorded in (checked) weights metadata, if any."""
    return StrengthCurve.from_dict(meta["strength"], "weights") if "strength" in meta else None


def _non_decreasing(values: list[float], weights: list[float]) -> list[float]:
    """Weighted least-squares non-decreasing fit (pool adjacent violators)."""
    blocks: list[list[float]] = []  # [mean, weight, count]
    for v, w in zip(values, weights):
        blocks.append([v, w, 1])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            v2, w2, n2 = blocks.pop()
            v1, w1, n1 = blocks.pop()
            blocks.append([(v1 * w1 + v2 * w2) / (w1 + w2), w1 + w2, n1 + n2])
    return [b[0] for b in blocks for _ in range(b[2])]


def fit_curve(
    sigmas: Iterable[float], strengths: Iterable[float], knots=SIGMA_KNOTS, bandwidth: float = BANDWIDTH
) -> StrengthCurve:
    """The curve through (estimated sigma, optimal strength) pairs: a Gaussian-kernel mean at each knot with data
    within 3 bandwidths, non-decreasing, in [0, 1]; knots beyond the data are dropped (the ends extend flat)."""
    xs = np.asarray(list(sigmas), dtype=np.float64)
    ys = np.asarray(list(strengths), dtype=np.float64)
    if xs.size == 0:
        raise InvdnError("no calibration samples to fit a strength curve to")
    kept, means, mass = [], [], []
    for k in knots:
        w = np.exp(-0.5 * ((xs - k) / bandwidth) ** 2)
        if np.abs(xs - k).min() <= 3 * bandwidth:
            kept.append(float(k))
            means.append(float((w * ys).sum() / w.sum()))
            mass.append(float(w.sum()))
    if not kept:  # all samples between knots far apart: one flat value
        return StrengthCurve((float(np.median(xs)),), (float(np.clip(ys.mean(), 0, 1)),))
    fitted = np.clip(_non_decreasing(means, mass), 0.0, 1.0)
    return StrengthCurve(tuple(kept), tuple(float(v) for v in fitted))


def resolve(strength: str, curve: StrengthCurve | None) -> Callable[[float], float] | None:
    """``--strength`` -> a function of the estimated sigma, or None for the model alone: "auto" uses the weights'
    curve (None when they have none), a number in [0, 1] is fixed."""
    text = strength.strip().lower()
    if text == "auto":
        return curve
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0.0 <= value <= 1.0:
        raise InvdnError(f"--strength must be auto or a number from 0 to 1, got {strength!r}")
    return None if value == 1.0 else (lambda sigma: value)


def parse_scales(text: str) -> list[float]:
    """``--scales``: comma-separated numbers in (0, 1]."""
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        values = []
    if not values or not all(0 < v <= 1 for v in values):
        raise InvdnError(f"--scales must be comma-separated numbers in (0, 1], got {text!r}")
    return values


def calibration_crops(
    files: list[Path], crop: int, per_photo: int, seed: int, scales: Iterable[float] = (1.0,)
) -> list[tuple[str, np.ndarray]]:
    """``per_photo`` seeded random ``crop``-sized crops of each photo at each of ``scales`` of its resolution
    (area-downscaled; smaller images whole)."""
    import cv2

    rng = np.random.default_rng(seed)
    out = []
    for path in files:
        full = read_image(path).rgb
        for scale in scales:
            rgb = full
            if scale != 1.0:
                size = (max(1, round(full.shape[1] * scale)), max(1, round(full.shape[0] * scale)))
                rgb = cv2.resize(full, size, interpolation=cv2.INTER_AREA)
            h, w = rgb.shape[:2]
            for i in range(per_photo):
                y = int(rng.integers(0, max(h - crop, 0) + 1))
                x = int(rng.integers(0, max(w - crop, 0) + 1))
                name = f"{path.name}@{scale:g}#{i}"
                out.append((name, np.ascontiguousarray(rgb[y : y + crop, x : x + crop])))
    return out


def calibrate(
    denoise: Callable[[np.ndarray], np.ndarray],
    crops: list[tuple[str, np.ndarray]],
    noises: Iterable[str] = CALIBRATION_NOISES,
    seed: int = 0,
    on_step: Callable[[str], None] | None = None,
) -> tuple[StrengthCurve, list[dict]]:
    """Fit the strength curve of ``denoise`` (HWC noisy -> HWC denoised) on seeded noisy copies of ``crops``.
    Returns the curve and the samples ``{"crop", "noise", "sigma", "strength"}`` it was fitted to."""

    noises = list(noises)
    for spec in noises:
        parse_noise(spec)
    samples = []
    for n_index, spec in enumerate(noises):
        for c_index, (name, clean) in enumerate(crops):
            if on_step:
                on_step(f"{spec} {name}")
            noisy = make_noisy(clean, spec, seed + 1000 * n_index + c_index)
            out = np.clip(denoise(noisy), 0.0, 1.0)
            s = optimal_strength(clean, noisy, out)
            samples.append({"crop": name, "noise": spec, "sigma": estimate_sigma(noisy), "strength": s})
    curve = fit_curve([s["sigma"] for s in samples], [s["strength"] for s in samples])
    return curve, samples
