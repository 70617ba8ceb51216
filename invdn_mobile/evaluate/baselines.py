"""Classical baselines: BM3D (the ``bm3d`` package, given the true noise sigma) and OpenCV's non-local means."""

from __future__ import annotations

import numpy as np

from invdn_mobile.extras import need

BASELINES = ("bm3d", "nlm")


def bm3d_denoise(noisy: np.ndarray, sigma: float) -> np.ndarray:
    """BM3D on an HWC RGB image in [0, 1]; ``sigma`` is the noise standard deviation in [0, 1] units."""
    bm3d = need("bm3d")
    return np.asarray(bm3d.bm3d_rgb(noisy.astype(np.float64), sigma_psd=max(sigma, 1e-4)), dtype=np.float32)


def nlm_denoise(noisy: np.ndarray, sigma: float) -> np.ndarray:
    """OpenCV ``fastNlMeansDenoisingColored``; filter strength tied to sigma (h = hColor = 0.9 sigma in 8-bit units)."""
    import cv2

    h = float(max(1.0, 0.9 * sigma * 255.0))
    u8 = np.round(np.clip(noisy, 0, 1) * 255.0).astype(np.uint8)
    out = cv2.fastNlMeansDenoisingColored(u8[:, :, ::-1].copy(), None, h, h, 7, 21)
    return out[:, :, ::-1].astype(np.float32) / 255.0


def run_baseline(name: str, noisy: np.ndarray, sigma: float) -> np.ndarray:
    return {"bm3d": bm3d_denoise, "nlm": nlm_denoise}[name](noisy, sigma)
