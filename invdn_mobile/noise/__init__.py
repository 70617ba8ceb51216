"""Noise models (seeded, vectorised torch): AWGN and a camera pipeline; parsed from specs like ``awgn:25``."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch

from invdn_mobile.errors import InvdnError
from invdn_mobile.noise.awgn import AWGN
from invdn_mobile.noise.camera import ISO_LIMITS, CameraNoise


class NoiseModel(Protocol):
    name: str

    def __call__(self, clean: torch.Tensor, generator: torch.Generator) -> torch.Tensor: ...


@dataclass(frozen=True)
class Mixture:
    """Each image of a batch gets one of ``models``, chosen uniformly."""

    models: tuple

    @property
    def name(self) -> str:
        return "+".join(m.name for m in self.models)

    def __call__(self, clean: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        choice = torch.randint(len(self.models), (clean.shape[0],), generator=generator, device=clean.device)
        out = torch.empty_like(clean)
        for i, model in enumerate(self.models):
            # Every model draws for the whole batch so the random stream does not depend on the choices.
            out = torch.where((choice == i).view(-1, 1, 1, 1), model(clean, generator), out)
        return out


_NUM = r"(\d+(?:\.\d+)?)"
_AWGN = re.compile(rf"^awgn:{_NUM}(?:-{_NUM})?$")
_CAMERA = re.compile(rf"^camera(?::iso{_NUM}(?:-{_NUM})?)?$")
SIGMA_LIMITS = (0.0, 255.0)  # AWGN sigma, 8-bit units


def parse_noise(spec: str) -> NoiseModel:
    """``awgn:25``, ``awgn:5-50`` (sigma 0-255), ``camera`` (ISO 100-12800), ``camera:iso3200``,
    ``camera:iso800-6400`` (ISO 50-102400); several joined with ``+`` make a :class:`Mixture`."""
    parts = [s.strip() for s in spec.split("+")]
    if len(parts) > 1:
        return Mixture(tuple(parse_noise(p) for p in parts))
    spec = parts[0].lower()
    if m := _AWGN.match(spec):
        return AWGN(*_range(spec, m, "sigma", SIGMA_LIMITS))
    if m := _CAMERA.match(spec):
        if m.group(1) is None:
            return CameraNoise()
        return CameraNoise(*_range(spec, m, "ISO", ISO_LIMITS))
    raise InvdnError(f"unknown noise {spec!r}: use awgn:SIGMA, awgn:LO-HI, camera, camera:isoN or camera:isoLO-HI")


def _range(spec: str, m: re.Match, what: str, limits: tuple[float, float]) -> tuple[float, float | None]:
    """The (low, high or None) of a matched spec, each within ``limits``, low <= high."""
    lo, hi = float(m.group(1)), float(m.group(2)) if m.group(2) else None
    for value in (lo, hi):
        if value is not None and not limits[0] <= value <= limits[1]:
            raise InvdnError(f"noise {spec!r}: {what} must be from {limits[0]:g} to {limits[1]:g}, got {value:g}")
    if hi is not None and hi < lo:
        raise InvdnError(f"noise {spec!r}: {what} range {lo:g}-{hi:g} is reversed (use LO-HI with LO <= HI)")
    return lo, hi


__all__ = ["AWGN", "CameraNoise", "Mixture", "NoiseModel", "parse_noise"]


def make_noisy(clean: np.ndarray, spec: str, seed: int) -> np.ndarray:
    """The noisy copy of an HWC float32 image under the noise ``spec`` with a fixed seed: how evaluation, parity and
    strength calibration make their noisy photos (identical for every method compared)."""
    x = torch.from_numpy(clean.transpose(2, 0, 1).copy())[None]
    y = parse_noise(spec)(x, torch.Generator().manual_seed(seed))
    return y[0].numpy().transpose(1, 2, 0).astype(np.float32)
