"""Haar wavelet downscaling as dense, export-friendly convolutions (InvDN paper, section 3.4).

The forward transform is one dense stride-2 ``conv2d`` with a fixed ``(4C, C, 2, 2)`` kernel. Output channel
``k * C + c`` holds sub-band ``k`` (0 = average, 1 = vertical, 2 = horizontal, 3 = diagonal detail) of input channel
``c``; the first ``C`` channels are therefore the 2x2 average pooling of the input. This is the channel order and the
1/4 scaling of the authors' code, so their checkpoints load unchanged.

The rows of the kernel are orthogonal with squared norm 1/4, so the inverse is exactly 4x the transposed kernel. It is
offered in two export-friendly forms (no grouped convolutions, no tensors above 4-D):

* ``"transpose"``: one dense stride-2 ``conv_transpose2d`` (a TRANSPOSE_CONV in LiteRT),
* ``"d2s"``: a 1x1 ``conv2d`` that reorders/mixes channels followed by ``pixel_shuffle`` (depth-to-space).

Both give ``inverse(forward(x)) == x`` to float precision.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

# The four 2x2 Haar filters (unscaled), in the authors' sub-band order.
_FILTERS = torch.tensor(
    [
        [[1.0, 1.0], [1.0, 1.0]],
        [[1.0, -1.0], [1.0, -1.0]],
        [[1.0, 1.0], [-1.0, -1.0]],
        [[1.0, -1.0], [-1.0, 1.0]],
    ]
)

INVERSE_MODES = ("transpose", "d2s")


def haar_kernel(channels: int) -> torch.Tensor:
    """Dense forward kernel ``(4C, C, 2, 2)`` including the 1/4 scaling."""
    kernel = torch.zeros(4 * channels, channels, 2, 2)
    for k in range(4):
        for c in range(channels):
            kernel[k * channels + c, c] = _FILTERS[k] / 4.0
    return kernel


def shuffle_kernel(channels: int) -> torch.Tensor:
    """1x1 kernel ``(4C, 4C, 1, 1)`` mapping Haar coefficients to ``pixel_shuffle``'s channel order.

    ``pixel_shuffle`` reads input channel ``c * 4 + (2 * i + j)`` as pixel ``(i, j)`` of output channel ``c``; that
    pixel is the sum over sub-bands ``k`` of ``filter_k[i, j] * coefficient[k * C + c]``.
    """
    kernel = torch.zeros(4 * channels, 4 * channels, 1, 1)
    for c in range(channels):
        for i in range(2):
            for j in range(2):
                for k in range(4):
                    kernel[c * 4 + 2 * i + j, k * channels + c, 0, 0] = _FILTERS[k, i, j]
    return kernel


class HaarDownsample(nn.Module):
    """Invertible 2x Haar downscaling: ``(B, C, H, W) -> (B, 4C, H/2, W/2)``."""

    def __init__(self, channels: int, inverse_mode: str = "transpose") -> None:
        super().__init__()
        if inverse_mode not in INVERSE_MODES:
            raise ValueError(f"inverse_mode must be one of {INVERSE_MODES}, got {inverse_mode!r}")
        self.channels = channels
        self.inverse_mode = inverse_mode
        kernel = haar_kernel(channels)
        # Fixed, not trained, rebuilt from `channels`: kept out of the state dict.
        self.register_buffer("weight", kernel, persistent=False)
        if inverse_mode == "transpose":
            self.register_buffer("inverse_weight", 4.0 * kernel, persistent=False)
        else:
            self.register_buffer("inverse_weight", shuffle_kernel(channels), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight, stride=2)

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        if self.inverse_mode == "transpose":
            return F.conv_transpose2d(y, self.inverse_weight, stride=2)
        return F.pixel_shuffle(F.conv2d(y, self.inverse_weight), 2)

    def extra_repr(self) -> str:
        return f"channels={self.channels}, inverse_mode={self.inverse_mode!r}"
