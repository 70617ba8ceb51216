"""Concatenation-free InvDN for full-integer export: the same function, with every convolution that reads or writes
tensors of very different ranges split by channel group, so that a per-tensor int8 scale serves each group alone.

A per-tensor int8 activation shares one scale among all its channels. Two places in InvDN put channels of very
different ranges in one tensor (docs/int8.md, "Where the error enters"):

* each residual block's last convolution reads ``cat(x, r)``: the block input next to its hidden features (channel
  spread up to 17x);
* the Haar transforms between scales read or write ``cat(LR, HF)``: the low-resolution image next to small
  high-frequency channels (at the last inverse Haar the median channel spans 44 of 256 codes).

A convolution is linear in its input channels, so ``conv(cat(a, b)) = conv_a(a) + conv_b(b)`` with the weight split
by input channel (the bias goes to one part); and its output channel groups can be computed by separate
convolutions, so ``(y1, y2) = split(conv(x))`` becomes two convolutions. The Haar kernels are per channel: most of
the pieces are zero and are dropped. Exact in real arithmetic (only the order of the float summation changes: the
output moves by ~1e-7); the converted graph has CONV_2D/TRANSPOSE_CONV + ADD where it had CONCATENATION or a wide
Haar convolution, and every ADD input gets its own quantization range.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from invdn_mobile.model.coupling import ResidualBlock
from invdn_mobile.model.haar import HaarDownsample


class SplitResidualBlock(nn.Module):
    """:class:`ResidualBlock` with ``conv3(cat(x, r))`` computed as ``conv3x(x) + conv3r(r)``."""

    def __init__(self, block: ResidualBlock) -> None:
        super().__init__()
        self.conv1, self.conv2 = block.conv1, block.conv2
        c = block.conv3.in_channels - block.conv2.out_channels
        w, b = block.conv3.weight.detach(), block.conv3.bias.detach()
        self.conv3x = _conv(w[:, :c], b, block.conv3)
        self.conv3r = _conv(w[:, c:], None, block.conv3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        r = F.leaky_relu(self.conv1(x), 0.2)
        r = F.leaky_relu(self.conv2(r), 0.2)
        return self.conv3x(x) + self.conv3r(r)


def _conv(weight: torch.Tensor, bias: torch.Tensor | None, like: nn.Conv2d) -> nn.Conv2d:
    """A convolution with ``like``'s geometry, on its device and dtype, holding ``weight`` and ``bias``."""
    conv = nn.Conv2d(weight.shape[1], weight.shape[0], like.kernel_size, padding=like.padding, bias=bias is not None)
    conv = conv.to(device=weight.device, dtype=weight.dtype)
    with torch.no_grad():
        conv.weight.copy_(weight)
        if bias is not None:
            conv.bias.copy_(bias)
    return conv


def _groups(channels: int, split: int | None) -> list[slice]:
    return [slice(0, channels)] if split is None else [slice(0, split), slice(split, channels)]


class SplitHaar(nn.Module):
    """:class:`HaarDownsample` computed per channel group: the input split at ``split_in`` channels (None: one group,
    the image) and the output at ``split_out`` (the coupling split), each output group a sum of convolutions of the
    input groups whose kernel piece is not all zero. The inverse is the transposed convolution with 4x the forward
    kernel (what the ``"transpose"`` inverse computes; the ``"d2s"`` one computes the same function)."""

    def __init__(self, haar: HaarDownsample, split_in: int | None, split_out: int) -> None:
        super().__init__()
        self.channels = haar.channels
        self.ins = _groups(haar.channels, split_in)
        self.outs = _groups(4 * haar.channels, split_out)
        # forward: weight (4C, C, 2, 2) pieces [out group][in group]; inverse (transposed): weight (4C, C, 2, 2)
        # indexed [in=4C group][out=C group]
        self.fwd = self._pieces(haar.weight, self.outs, self.ins, 0)
        self.inv = self._pieces(4.0 * haar.weight, self.ins, self.outs, 1)

    def _pieces(self, weight, results, sources, result_dim) -> list[list[tuple[int, str]]]:
        table = []
        for r, rs in enumerate(results):
            row = []
            for s, ss in enumerate(sources):
                piece = weight[rs][:, ss] if result_dim == 0 else weight[ss][:, rs]
                if piece.abs().sum() > 0:
                    name = f"w{'f' if result_dim == 0 else 'i'}{r}{s}"
                    self.register_buffer(name, piece.contiguous().clone(), persistent=False)
                    row.append((s, name))
            table.append(row)
        return table

    def _run(self, x: torch.Tensor, sources: list[slice], table, transpose: bool) -> torch.Tensor:
        parts = [x[:, s] for s in sources] if len(sources) > 1 else [x]
        op = F.conv_transpose2d if transpose else F.conv2d
        outs = []
        for row in table:
            terms = [op(parts[s], getattr(self, name), stride=2) for s, name in row]
            total = terms[0]
            for t in terms[1:]:
                total = total + t
            outs.append(total)
        return outs[0] if len(outs) == 1 else torch.cat(outs, dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._run(x, self.ins, self.fwd, transpose=False)

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        return self._run(y, self.outs, self.inv, transpose=True)


@torch.no_grad()
def split_concats(model: nn.Module) -> None:
    """Rewrite an :class:`~invdn_mobile.model.InvDN` in place: every :class:`ResidualBlock` (also inside the copies a
    sub-free coupling holds) becomes a :class:`SplitResidualBlock`, every Haar layer a :class:`SplitHaar`. The last
    of the exact rewrites: cross-layer equalization and the sub-free couplings work on :class:`ResidualBlock` and
    come first (``export.integer.prepared`` keeps that order)."""
    for module in list(model.modules()):
        for name, child in module.named_children():
            if type(child) is ResidualBlock:
                setattr(module, name, SplitResidualBlock(child))
    split = model.lr_channels
    for i, scale in enumerate(model.scales):
        scale.haar = SplitHaar(scale.haar, None if i == 0 else split, split)


@torch.no_grad()
def merge_split(split_model: nn.Module, into: nn.Module) -> None:
    """Copy the weights of a model rewritten by :func:`split_concats` back into ``into``, the same model unsplit (module
    paths line up: the rewrite replaces modules under their own names): ``conv3 = cat(conv3x, conv3r)`` by input
    channel, the bias from ``conv3x``; ``conv1`` and ``conv2`` as they are. Every parameter of InvDN is in a residual
    block (the Haar layers are fixed). What quantization-aware fine-tuning on the split graph uses to save ordinary
    weights."""
    split_modules = dict(split_model.named_modules())
    for name, module in into.named_modules():
        if type(module) is not ResidualBlock:
            continue
        trained = split_modules[name]
        for conv in ("conv1", "conv2"):
            getattr(module, conv).load_state_dict(getattr(trained, conv).state_dict())
        if isinstance(trained, SplitResidualBlock):
            module.conv3.weight.copy_(torch.cat((trained.conv3x.weight, trained.conv3r.weight), dim=1))
            module.conv3.bias.copy_(trained.conv3x.bias)
        else:
            module.conv3.load_state_dict(trained.conv3.state_dict())
