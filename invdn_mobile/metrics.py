"""Image quality metrics, the one place for them: PSNR (one formula, for single images and for batches) and SSIM
(scikit-image's implementation, Gaussian-weighted as Wang et al.). A leaf module: imports nothing of the package."""

from __future__ import annotations

import math

import numpy as np

PSNR_MAX = 100.0  # dB: identical images (e.g. the "noisy" row of awgn:0) get this instead of infinity


def psnr_of_mse(mse: float) -> float:
    """PSNR in dB of a mean squared error on the [0, 1] scale (at most :data:`PSNR_MAX`)."""
    return PSNR_MAX if mse <= 0 else min(PSNR_MAX, -10.0 * math.log10(mse))


def psnr(clean: np.ndarray, test: np.ndarray) -> float:
    """PSNR in dB of an image against ``clean`` (any shape, values in [0, 1]); ``test`` is clipped to [0, 1] first."""
    diff = np.clip(np.asarray(test, dtype=np.float64), 0, 1) - np.asarray(clean, dtype=np.float64)
    return psnr_of_mse(float(np.mean(diff * diff)))


def psnr_batch(test, clean):
    """Per-image PSNR (dB) of NCHW torch batches in [0, 1] (not clipped), as a tensor: :func:`psnr_of_mse` batched
    on the batch's device (training validation, the INT8 search)."""
    import torch

    mse = ((test.float() - clean.float()) ** 2).flatten(1).mean(1)
    return torch.where(mse > 0, -10.0 * torch.log10(mse.clamp_min(1e-30)), PSNR_MAX).clamp_max(PSNR_MAX)


def ssim(clean: np.ndarray, test: np.ndarray) -> float:
    """SSIM of HWC RGB images in [0, 1] (Gaussian-weighted, as Wang et al.); ``test`` is clipped to [0, 1] first."""
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
