"""The InvDN invertible block: an affine coupling layer with residual sub-networks (paper, Table 1 and Eq. 2).

Forward, with the input split channel-wise into ``x1`` (the first ``split`` channels) and ``x2`` (the rest)::

    y1 = x1 + F(x2)
    s  = clamp * (2 * sigmoid(H(y1)) - 1)
    y2 = x2 * exp(s) + G(y1)

Reverse multiplies by ``exp(-s)`` instead of dividing (no DIV/POW in exported graphs). Because ``s`` lies in
``[-clamp, clamp]``, ``exp(+-s)`` cannot overflow in FP16.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn


class ResidualBlock(nn.Module):
    """``conv3x3 -> width -> LeakyReLU(0.2) -> conv3x3 -> LeakyReLU -> concat(input) -> conv3x3``."""

    def __init__(self, in_channels: int, out_channels: int, width: int = 64) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, width, 3, padding=1)
        self.conv2 = nn.Conv2d(width, width, 3, padding=1)
        self.conv3 = nn.Conv2d(width + in_channels, out_channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        r = F.leaky_relu(self.conv1(x), 0.2)
        r = F.leaky_relu(self.conv2(r), 0.2)
        return self.conv3(torch.cat((x, r), dim=1))


class Coupling(nn.Module):
    """Affine coupling over ``channels`` channels, split ``split`` / ``channels - split``."""

    def __init__(self, channels: int, split: int = 3, width: int = 64, clamp: float = 1.0) -> None:
        super().__init__()
        self.split = split
        self.clamp = clamp
        rest = channels - split
        self.F = ResidualBlock(rest, split, width)
        self.G = ResidualBlock(split, rest, width)
        self.H = ResidualBlock(split, rest, width)

    def scale(self, y1: torch.Tensor) -> torch.Tensor:
        return self.clamp * (2.0 * torch.sigmoid(self.H(y1)) - 1.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1, x2 = x[:, : self.split], x[:, self.split :]
        y1 = x1 + self.F(x2)
        y2 = x2 * torch.exp(self.scale(y1)) + self.G(y1)
        return torch.cat((y1, y2), dim=1)

    def forward_first(self, x: torch.Tensor) -> torch.Tensor:
        """Only ``y1`` (the first ``split`` channels of :meth:`forward`): skips ``G`` and ``H``."""
        return x[:, : self.split] + self.F(x[:, self.split :])

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        return self.inverse_parts(y[:, : self.split], y[:, self.split :])

    def inverse_parts(self, y1: torch.Tensor, y2: torch.Tensor) -> torch.Tensor:
        """:meth:`inverse` of ``cat((y1, y2))`` without building the concatenation first.

        ``-G(y1) + y2`` is ``y2 - G(y1)`` bit for bit; written so because litert-torch 0.10 converts ``constant - x``
        wrongly (measured: error 8.3 on a 45-channel constant) and ``y2`` is the baked-in z_HF constant here."""
        x2 = (-self.G(y1) + y2) * torch.exp(-self.scale(y1))
        x1 = y1 - self.F(x2)
        return torch.cat((x1, x2), dim=1)


class SubFreeCoupling(Coupling):
    """The same coupling, rewritten without subtraction for integer kernels that cannot take it (LiteRT's 16-bit SUB
    refuses the scales of our graph): ``2·sigmoid(h) − 1 = tanh(h / 2)`` with ``H``'s last convolution halved, and
    the reverse pass's ``y2 − G(y1)`` and ``y1 − F(x2)`` as additions of copies of ``G`` and ``F`` whose last
    convolution is negated. Exact in real arithmetic (halving and negating are exact in binary floating point);
    :func:`sub_free` swaps it in."""

    @classmethod
    @torch.no_grad()
    def of(cls, coupling: Coupling) -> SubFreeCoupling:
        new = cls.__new__(cls)
        nn.Module.__init__(new)
        new.split, new.clamp = coupling.split, coupling.clamp
        new.F, new.G = coupling.F, coupling.G
        new.H = _scaled_copy(coupling.H, 0.5)
        new.F_neg, new.G_neg = _scaled_copy(coupling.F, -1.0), _scaled_copy(coupling.G, -1.0)
        return new

    def scale(self, y1: torch.Tensor) -> torch.Tensor:
        return self.clamp * torch.tanh(self.H(y1))

    def inverse_parts(self, y1: torch.Tensor, y2: torch.Tensor) -> torch.Tensor:
        # exp(-s) with the sign folded into the constant: no separate negation in the converted graph
        x2 = (self.G_neg(y1) + y2) * torch.exp(torch.tanh(self.H(y1)) * -self.clamp)
        x1 = y1 + self.F_neg(x2)
        return torch.cat((x1, x2), dim=1)


def _scaled_copy(block: ResidualBlock, factor: float) -> ResidualBlock:
    """A copy of ``block`` whose output is multiplied by ``factor`` (its last convolution scaled)."""
    scaled = copy.deepcopy(block)
    scaled.conv3.weight.mul_(factor)
    scaled.conv3.bias.mul_(factor)
    return scaled


def sub_free(model: nn.Module) -> None:
    """Replace every :class:`Coupling` of ``model`` by its :class:`SubFreeCoupling`, in place."""
    for module in list(model.modules()):
        for name, child in module.named_children():
            if type(child) is Coupling:
                setattr(module, name, SubFreeCoupling.of(child))
