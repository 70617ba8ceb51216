"""Camera-pipeline noise: unprocess an sRGB photo to linear camera RGB, add Poisson-Gaussian sensor noise, and
process it back to 8-bit sRGB.

The structure and parameter ranges follow Brooks et al., "Unprocessing Images for Learned Raw Denoising" (CVPR 2019):
smoothstep tone curve, gamma 2.2, a colour matrix that is a random convex mix of four cameras' XYZ->camera matrices,
white-balance gains red U(1.9, 2.4), blue U(1.5, 1.9), a global gain 1/N(0.8, 0.1), and noise variance
``shot * x + read`` with ``log(read) = 2.18 * log(shot) + 1.20 + N(0, 0.26)``. The sensor is treated as a full RGB
sensor (no mosaic). Shot noise level is tied to ISO as ``shot = 1e-4 * ISO / 100`` (one stop of ISO doubles the gain),
which maps Brooks' range [1e-4, 0.012] onto ISO ~100 to ~12000.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

_XYZ2CAMS = torch.tensor(
    [
        [[1.0234, -0.2969, -0.2266], [-0.5625, 1.6328, -0.0469], [-0.0703, 0.2188, 0.6406]],
        [[0.4913, -0.0541, -0.0202], [-0.6130, 1.3513, 0.2906], [-0.1564, 0.2151, 0.7183]],
        [[0.8380, -0.2630, -0.0639], [-0.2887, 1.0725, 0.2496], [-0.0627, 0.1427, 0.5438]],
        [[0.6596, -0.2079, -0.0562], [-0.4782, 1.3016, 0.1933], [-0.0970, 0.1581, 0.5181]],
    ]
)
_RGB2XYZ = torch.tensor(
    [[0.4124564, 0.3575761, 0.1804375], [0.2126729, 0.7151522, 0.0721750], [0.0193339, 0.1191920, 0.9503041]]
)
ISO_RANGE = (100.0, 12800.0)  # the default range: Brooks et al.'s shot-noise range
# The ISOs a spec may ask for: one stop below the default range to three above. On mid-grey the noise standard
# deviation goes from about 3 (ISO 50) to about 100 (ISO 102400) in 8-bit units; beyond that a photo is mostly noise.
ISO_LIMITS = (50.0, 102400.0)


def iso_to_shot(iso: torch.Tensor | float) -> torch.Tensor | float:
    return 1e-4 * iso / 100.0


@dataclass
class CameraParams:
    """Per-image pipeline parameters, each with a leading batch dimension."""

    rgb2cam: torch.Tensor  # (B, 3, 3), rows sum to 1
    gains: torch.Tensor  # (B, 3): red * rgb_gain, rgb_gain, blue * rgb_gain (applied by the camera)
    shot: torch.Tensor  # (B,) shot-noise variance per unit signal
    read: torch.Tensor  # (B,) read-noise variance

    @property
    def cam2rgb(self) -> torch.Tensor:
        return torch.linalg.inv(self.rgb2cam)


def _u(batch: int, lo: float, hi: float, g: torch.Generator, device) -> torch.Tensor:
    return lo + (hi - lo) * torch.rand(batch, generator=g, device=device)


def random_params(
    batch: int, iso: tuple[float, float], g: torch.Generator, device: torch.device | str = "cpu"
) -> CameraParams:
    """Draw pipeline parameters; ``iso`` is a (low, high) range sampled log-uniformly (equal ends: fixed ISO)."""
    weights = torch.rand(batch, 4, generator=g, device=device)
    weights = weights / weights.sum(1, keepdim=True)
    xyz2cam = torch.einsum("bk,kij->bij", weights, _XYZ2CAMS.to(device))
    rgb2cam = xyz2cam @ _RGB2XYZ.to(device)
    rgb2cam = rgb2cam / rgb2cam.sum(-1, keepdim=True)
    # Brooks et al.: 1 / N(0.8, 0.1); capped at 1 so every gain is >= 1 and the pipeline inverts without clipping.
    rgb_gain = 1.0 / (0.8 + 0.1 * torch.randn(batch, generator=g, device=device)).clamp(0.5, 1.0)
    red = _u(batch, 1.9, 2.4, g, device)
    blue = _u(batch, 1.5, 1.9, g, device)
    gains = torch.stack([red * rgb_gain, rgb_gain, blue * rgb_gain], dim=1)
    log_iso = _u(batch, math.log(iso[0]), math.log(iso[1]), g, device)
    shot = iso_to_shot(torch.exp(log_iso))
    log_read = 2.18 * torch.log(shot) + 1.20 + 0.26 * torch.randn(batch, generator=g, device=device)
    return CameraParams(rgb2cam, gains, shot, torch.exp(log_read))


def _smoothstep(x: torch.Tensor) -> torch.Tensor:
    return 3.0 * x**2 - 2.0 * x**3


def _inverse_smoothstep(y: torch.Tensor) -> torch.Tensor:
    y = y.clamp(0.0, 1.0)
    return 0.5 - torch.sin(torch.asin(1.0 - 2.0 * y) / 3.0)


def _apply_matrix(image: torch.Tensor, matrix: torch.Tensor) -> torch.Tensor:
    return torch.einsum("bij,bjhw->bihw", matrix, image)


def unprocess(srgb: torch.Tensor, p: CameraParams) -> torch.Tensor:
    """sRGB in [0, 1] ``(B, 3, H, W)`` -> linear camera RGB before white balance."""
    linear = _inverse_smoothstep(srgb).clamp_min(1e-8) ** 2.2
    cam = _apply_matrix(linear, p.rgb2cam)
    # Invert white balance. Every gain is >= 1 (see random_params), so nothing clips and process() inverts this
    # exactly; Brooks et al.'s highlight easing is not needed (and would make the round trip lossy).
    return (cam / p.gains.view(-1, 3, 1, 1)).clamp(0.0, 1.0)


def process(raw: torch.Tensor, p: CameraParams) -> torch.Tensor:
    """Linear camera RGB -> sRGB in [0, 1] (white balance, colour matrix, gamma, tone curve); not quantised."""
    balanced = (raw * p.gains.view(-1, 3, 1, 1)).clamp(0.0, 1.0)
    linear = _apply_matrix(balanced, p.cam2rgb).clamp(0.0, 1.0)
    return _smoothstep(linear.clamp_min(1e-8) ** (1.0 / 2.2))


def add_sensor_noise(raw: torch.Tensor, shot: torch.Tensor, read: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Poisson-Gaussian noise: ``shot * Poisson(raw / shot) + N(0, read)``; variance ``shot * raw + read``."""
    shot = shot.view(-1, 1, 1, 1)
    read = read.view(-1, 1, 1, 1)
    photons = torch.poisson(raw / shot, generator=g)
    gauss = torch.randn(raw.shape, generator=g, device=raw.device, dtype=raw.dtype)
    return shot * photons + read.sqrt() * gauss


def quantize8(x: torch.Tensor) -> torch.Tensor:
    return torch.round(x.clamp(0.0, 1.0) * 255.0) / 255.0


@dataclass(frozen=True)
class CameraNoise:
    """Realistic phone noise at a fixed ISO or over an ISO range (log-uniform), quantised to 8 bits."""

    iso: float = ISO_RANGE[0]
    iso_max: float | None = ISO_RANGE[1]

    @property
    def name(self) -> str:
        if self.iso_max is None:
            return f"camera:iso{self.iso:g}"
        return f"camera:iso{self.iso:g}-{self.iso_max:g}"

    def params(self, batch: int, g: torch.Generator, device) -> CameraParams:
        hi = self.iso if self.iso_max is None else self.iso_max
        return random_params(batch, (self.iso, hi), g, device)

    def __call__(self, clean: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        p = self.params(clean.shape[0], generator, clean.device)
        raw = unprocess(clean, p)
        noisy = add_sensor_noise(raw, p.shot, p.read, generator)
        return quantize8(process(noisy, p))
