"""Noise models (seeded, vectorised torch): AWGN and a camera pipeline; parsed from specs like ``awgn:25``."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol

import torch

from invdn_mobile.errors import InvdnError
from invdn_mobile.noise.awgn import AWGN
from invdn_mobile.noise.camera import CameraNoise


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


def parse_noise(spec: str) -> NoiseModel:
    """``awgn:25``, ``awgn:5-50``, ``camera`` (ISO 100-12800), ``camera:iso3200``, ``camera:iso800-6400``;
    several joined with ``+`` make a :class:`Mixture`."""
    parts = [s.strip() for s in spec.split("+")]
    if len(parts) > 1:
        return Mixture(tuple(parse_noise(p) for p in parts))
    spec = parts[0].lower()
    if m := _AWGN.match(spec):
        lo, hi = float(m.group(1)), m.group(2)
        return AWGN(lo, float(hi) if hi else None)
    if m := _CAMERA.match(spec):
        if m.group(1) is None:
            return CameraNoise()
        lo, hi = float(m.group(1)), m.group(2)
        if lo <= 0:
            raise InvdnError(f"noise {spec!r}: ISO must be positive")
        return CameraNoise(lo, float(hi) if hi else None)
    raise InvdnError(f"unknown noise {spec!r}: use awgn:SIGMA, awgn:LO-HI, camera, camera:isoN or camera:isoLO-HI")


__all__ = ["AWGN", "CameraNoise", "Mixture", "NoiseModel", "parse_noise"]
