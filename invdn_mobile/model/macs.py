"""Multiply-accumulate counts, measured by running the model under PyTorch's FLOP counter (every convolution,
functional or module, is counted from its actual shapes), not typed in."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch.utils.flop_counter import FlopCounterMode

from invdn_mobile.model.denoiser import Denoiser
from invdn_mobile.model.invdn import InvDN
from invdn_mobile.tiling import DEFAULT_TILE


def count_macs(fn: Callable[[], object]) -> int:
    """MACs of the matmul/convolution work done by ``fn()`` (FLOPs / 2)."""
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        fn()
    return int(counter.get_total_flops()) // 2


def model_macs(model: InvDN, height: int = DEFAULT_TILE, width: int = DEFAULT_TILE) -> dict[str, int]:
    """MACs of forward, reverse and the whole denoiser for one ``height x width`` RGB input."""
    x = torch.zeros(1, model.config.in_channels, height, width)
    latent = torch.zeros(1, *model.latent_shape(height, width))
    denoiser = Denoiser(model, tile=(height, width))
    return {
        "forward": count_macs(lambda: model(x)),
        "reverse": count_macs(lambda: model.reverse(latent)),
        "denoiser": count_macs(lambda: denoiser(x)),
    }
