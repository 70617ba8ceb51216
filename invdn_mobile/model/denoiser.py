"""The deployable denoiser: forward -> keep the low-resolution channels -> fixed seeded z_HF -> reverse.

The forward pass stops at the LR channels (:meth:`InvDN.forward_lr`): the last coupling block's ``G`` and ``H``
only produce the discarded noise latent, so they are never computed (about 1.1 % of the paper model's MACs).

Model contract (every exported artifact and every app follows it):

* input ``x``: float32, NCHW, RGB, values in [0, 1] (sRGB, not linearised), H and W multiples of ``2**scales``
  (4 for every shipped variant); artifacts are exported for one fixed tile (default 256 x 256);
* output: same layout, range and size; values may leave [0, 1] slightly and are clipped by the caller;
* ``z_HF``: a standard normal sample of shape ``(1, 3 * 4**scales - 3, H / 2**scales, W / 2**scales)`` drawn from
  ``torch.Generator().manual_seed(seed)`` and multiplied by ``z_scale``; baked in as a constant, or taken as a second
  input ``z`` (same shape, batch broadcast) when ``z_input=True`` for on-device Monte-Carlo ensembling (paper 4.5).
"""

from __future__ import annotations

import torch
from torch import nn

from invdn_mobile.model.invdn import InvDN

DEFAULT_SEED = 0
DEFAULT_Z_SCALE = 1.0


def sample_z(shape: tuple[int, ...], seed: int, scale: float = DEFAULT_Z_SCALE) -> torch.Tensor:
    """The z_HF for ``shape``: identical for the same seed on every machine (CPU generator)."""
    generator = torch.Generator().manual_seed(int(seed))
    return torch.randn(shape, generator=generator, dtype=torch.float32) * scale


class Denoiser(nn.Module):
    """``reverse([forward(x)[:, :3], z_HF])`` with a fixed, seeded ``z_HF`` (or ``z`` as an input)."""

    def __init__(
        self,
        model: InvDN,
        tile: tuple[int, int] | None = None,
        seed: int = DEFAULT_SEED,
        z_scale: float = DEFAULT_Z_SCALE,
        z_input: bool = False,
    ) -> None:
        super().__init__()
        self.model = model
        self.seed = int(seed)
        self.z_scale = float(z_scale)
        self.z_input = z_input
        self.tile = tile
        self._z_cache: dict[tuple[int, ...], torch.Tensor] = {}
        if tile is not None and not z_input:
            self.register_buffer("z", sample_z(self.model.z_shape(*tile), self.seed, self.z_scale))
        else:
            self.z = None

    def z_for(self, height: int, width: int, seed: int | None = None) -> torch.Tensor:
        """The seeded z_HF for an input of ``height x width`` (the buffer when it is the export tile)."""
        shape = self.model.z_shape(height, width)
        seed = self.seed if seed is None else int(seed)
        if self.z is not None and seed == self.seed and tuple(self.z.shape) == shape:
            return self.z
        key = (*shape, seed)
        if key not in self._z_cache:
            self._z_cache[key] = sample_z(shape, seed, self.z_scale)
        return self._z_cache[key]

    def forward(self, x: torch.Tensor, z: torch.Tensor | None = None) -> torch.Tensor:
        lr = self.model.forward_lr(x)
        if z is None:
            if self.z_input:
                raise ValueError("this denoiser takes z as its second input")
            z = self.z_for(x.shape[-2], x.shape[-1]).to(device=x.device, dtype=lr.dtype)
        if z.shape[0] != x.shape[0]:  # no expand op in graphs traced at batch 1 (coremltools cannot convert it)
            z = z.expand(x.shape[0], -1, -1, -1)
        return self.model.reverse_parts(lr, z)
