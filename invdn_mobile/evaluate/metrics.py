"""Image quality metrics: PSNR and SSIM from scikit-image (library implementations), plus a batched torch PSNR."""

from __future__ import annotations

import numpy as np
import torch

PSNR_MAX = 100.0  # dB: identical images (e.g. the "noisy" row of awgn:0) get this instead of infinity


def psnr(clean: np.ndarray, test: np.ndarray) -> float:
    """PSNR in dB of HWC images in [0, 1] (at most :data:`PSNR_MAX`)."""
    from skimage.metrics import peak_signal_noise_ratio

    test = np.clip(test, 0, 1).astype(clean.dtype)
    if np.array_equal(clean, test):
        return PSNR_MAX
    return min(PSNR_MAX, float(peak_signal_noise_ratio(clean, test, data_range=1.0)))


def ssim(clean: np.ndarray, test: np.ndarray) -> float:
    """SSIM of HWC RGB images in [0, 1] (Gaussian-weighted, as Wang et al.)."""
    from skimage.metrics import structural_similarity

    return float(
        structural_similarity(
            clean,
            np.clip(test, 0, 1).astype(clean.dtype),
            data_range=1.0,
            channel_axis=2,
            gaussian_weights=True,
            sigma=1.5,
            use_sample_covariance=False,
        )
    )


def psnr_torch(test: torch.Tensor, clean: torch.Tensor) -> torch.Tensor:
    """Per-image PSNR (dB) of NCHW batches in [0, 1]."""
    mse = ((test.float() - clean.float()) ** 2).flatten(1).mean(1).clamp_min(1e-12)
    return -10.0 * torch.log10(mse)
