"""Additive white Gaussian noise with a fixed sigma or a per-image sigma range (blind training)."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class AWGN:
    """Gaussian noise; ``sigma`` in 8-bit units (25 means 25/255). ``sigma_max`` > ``sigma`` samples per image.

    The result is clipped to [0, 1], as any saved photo is (not quantised).
    """

    sigma: float
    sigma_max: float | None = None

    @property
    def name(self) -> str:
        if self.sigma_max is None:
            return f"awgn:{self.sigma:g}"
        return f"awgn:{self.sigma:g}-{self.sigma_max:g}"

    def sigmas(self, batch: int, generator: torch.Generator, device: torch.device) -> torch.Tensor:
        """Per-image sigma in [0, 1] units, shape ``(batch,)``."""
        if self.sigma_max is None:
            return torch.full((batch,), self.sigma / 255.0, device=device)
        u = torch.rand(batch, generator=generator, device=device)
        return (self.sigma + u * (self.sigma_max - self.sigma)) / 255.0

    def __call__(self, clean: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        sigma = self.sigmas(clean.shape[0], generator, clean.device).view(-1, 1, 1, 1)
        noise = torch.randn(clean.shape, generator=generator, device=clean.device, dtype=clean.dtype)
        return (clean + sigma * noise).clamp(0.0, 1.0)
