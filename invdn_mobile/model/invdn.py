"""InvDN: Invertible Denoising Network (Liu et al., CVPR 2021).

A stack of down-scale blocks; each is a Haar downscale (x2 spatially, x4 channels) followed by ``blocks`` coupling
layers. ``forward`` maps a noisy image ``(B, 3, H, W)`` to a latent ``(B, 3 * 4**scales, H / 2**scales, W /
2**scales)`` whose first 3 channels are trained to be the clean low-resolution image; ``reverse`` is its exact
inverse.
"""

from __future__ import annotations

import torch
from torch import nn

from invdn_mobile.model.coupling import Coupling
from invdn_mobile.model.haar import HaarDownsample
from invdn_mobile.model.variants import VariantConfig


class DownScale(nn.Module):
    """One down-scale block: Haar downscale, then coupling layers."""

    def __init__(self, channels: int, blocks: int, width: int, split: int, clamp: float, inverse_mode: str) -> None:
        super().__init__()
        self.haar = HaarDownsample(channels, inverse_mode)
        self.blocks = nn.ModuleList(Coupling(4 * channels, split, width, clamp) for _ in range(blocks))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.haar(x)
        for block in self.blocks:
            x = block(x)
        return x

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        for block in reversed(self.blocks):
            y = block.inverse(y)
        return self.haar.inverse(y)

    def inverse_parts(self, lr: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """:meth:`inverse` of ``cat((lr, z))``; the last block takes the two parts as they are."""
        if not len(self.blocks):
            return self.inverse(torch.cat((lr, z), dim=1))
        y = self.blocks[-1].inverse_parts(lr, z)
        for block in reversed(self.blocks[:-1]):
            y = block.inverse(y)
        return self.haar.inverse(y)


class InvDN(nn.Module):
    """The invertible network ``g`` of the paper; ``reverse`` is ``g^-1``."""

    def __init__(self, config: VariantConfig | None = None, inverse_mode: str = "transpose") -> None:
        super().__init__()
        self.config = config or VariantConfig()
        c = self.config
        self.scales = nn.ModuleList(
            DownScale(c.in_channels * 4**i, c.blocks, c.width, c.in_channels, c.clamp, inverse_mode)
            for i in range(c.scales)
        )

    @property
    def lr_channels(self) -> int:
        return self.config.in_channels

    def latent_shape(self, height: int, width: int) -> tuple[int, int, int]:
        """``(channels, h, w)`` of the latent for an input of ``height x width``."""
        m = self.config.multiple
        if height % m or width % m:
            raise ValueError(f"input size {height}x{width} is not a multiple of {m}")
        return self.config.in_channels * 4**self.config.scales, height // m, width // m

    def z_shape(self, height: int, width: int, batch: int = 1) -> tuple[int, int, int, int]:
        """Shape of z_HF (the latent's high-frequency channels) for ``batch`` inputs of ``height x width``."""
        c, h, w = self.latent_shape(height, width)
        return (batch, c - self.lr_channels, h, w)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for scale in self.scales:
            x = scale(x)
        return x

    def forward_lr(self, x: torch.Tensor) -> torch.Tensor:
        """``forward(x)[:, :3]`` without computing what the slice drops: the last block's ``G`` and ``H`` only feed
        the discarded z channels, so they are skipped (the denoiser's forward pass, pruned by construction)."""
        last = self.scales[-1]
        for scale in self.scales[:-1]:
            x = scale(x)
        x = last.haar(x)
        for block in last.blocks[:-1]:
            x = block(x)
        return last.blocks[-1].forward_first(x) if len(last.blocks) else x[:, : self.lr_channels]

    def reverse(self, z: torch.Tensor) -> torch.Tensor:
        for scale in reversed(self.scales):
            z = scale.inverse(z)
        return z

    def reverse_parts(self, lr: torch.Tensor, z_hf: torch.Tensor) -> torch.Tensor:
        """``reverse(cat((lr, z_hf)))`` without the concatenation and the slices that would undo it at once (two
        fewer ops in every exported graph)."""
        *rest, last = self.scales
        x = last.inverse_parts(lr, z_hf)
        for scale in reversed(rest):
            x = scale.inverse(x)
        return x

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())
