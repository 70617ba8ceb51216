"""Cross-layer equalization of the residual blocks (Nagel et al., "Data-Free Quantization", ICCV 2019): an exact
float rescaling that evens out the per-channel ranges a per-tensor int8 activation has to share.

LeakyReLU is positively homogeneous (``leaky(x / s) = leaky(x) / s`` for ``s > 0``), so dividing output channel
``i`` of ``conv1`` (weights and bias) by ``s_i`` and multiplying input channel ``i`` of ``conv2`` by ``s_i`` leaves
the block's output unchanged; likewise between ``conv2`` and the hidden part of ``conv3``'s input (the block
concatenates its input ``x`` with the hidden ``r``; only ``r``'s channels are rescaled). ``s_i = sqrt(r_i / c_i)``
balances the activation channel's range ``r_i`` (measured, or the weight range of the producing conv without data)
against the consuming conv's column range ``c_i``, so both end at ``sqrt(r_i * c_i)``.
"""

from __future__ import annotations

import torch

from invdn_mobile.model.coupling import ResidualBlock


def _scales(act_range: torch.Tensor, columns: torch.Tensor, limit: float) -> torch.Tensor:
    s = torch.sqrt(act_range.clamp_min(1e-8) / columns.clamp_min(1e-8))
    s = s / s.max()  # only the ratios matter; keep the largest channel as it is
    return s.clamp(1.0 / limit, 1.0)


@torch.no_grad()
def equalize_block(
    block: ResidualBlock, ranges1: torch.Tensor | None = None, ranges2: torch.Tensor | None = None, limit: float = 16.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Equalize ``conv1 -> conv2`` and ``conv2 -> conv3`` of one block in place; ``ranges1`` / ``ranges2``: the
    per-channel activation ranges after each LeakyReLU (default: the producing conv's per-output-channel weight
    range, Nagel's data-free form). Returns the two scale vectors."""
    c1, c2, c3 = block.conv1, block.conv2, block.conv3
    hidden = c2.in_channels
    r1 = ranges1 if ranges1 is not None else c1.weight.abs().amax(dim=(1, 2, 3))
    s1 = _scales(r1, c2.weight.abs().amax(dim=(0, 2, 3)), limit)
    c1.weight.div_(s1.view(-1, 1, 1, 1))
    c1.bias.div_(s1)
    c2.weight.mul_(s1.view(1, -1, 1, 1))
    r2 = ranges2 if ranges2 is not None else c2.weight.abs().amax(dim=(1, 2, 3))
    cols = c3.weight[:, -hidden:]
    s2 = _scales(r2, cols.abs().amax(dim=(0, 2, 3)), limit)
    c2.weight.div_(s2.view(-1, 1, 1, 1))
    c2.bias.div_(s2)
    c3.weight[:, -hidden:] = cols * s2.view(1, -1, 1, 1)
    return s1, s2


def equalize(model, ranges: dict[str, tuple[torch.Tensor, torch.Tensor]] | None = None, limit: float = 16.0) -> None:
    """Equalize every residual block of ``model`` (an :class:`~invdn_mobile.model.InvDN`) in place. ``ranges``: module
    path of a block (e.g. ``scales.0.blocks.1.G``) -> the per-channel activation ranges after its two LeakyReLUs."""
    for name, module in model.named_modules():
        if isinstance(module, ResidualBlock):
            r1, r2 = (ranges or {}).get(name, (None, None))
            equalize_block(module, r1, r2, limit)
