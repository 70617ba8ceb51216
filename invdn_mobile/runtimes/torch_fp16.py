"""``torch-fp16-ops``: the PyTorch denoiser with FP16 arithmetic emulated, standing for what a target that computes in
FP16 (the LiteRT GPU delegate, WebGPU, ONNX Runtime on CUDA) does with an FP16 artifact of the same weights.

Weights, buffers (the constant z_HF) and inputs are rounded to float16, and the float result of every PyTorch op is
rounded to float16 as it is produced (a ``TorchFunctionMode``), so every tensor between ops holds IEEE half values.
Each op itself computes in float32 from those halves: convolutions accumulate in float32 and round once, which is what
it emulates exactly; a device that accumulates in FP16, or fuses ops differently from PyTorch's op boundaries, can
differ. It evaluates the PyTorch denoiser, not the artifact's graph (the artifact's FP16 weights are the same
roundings of the same weights). It computes in float32 on purpose: PyTorch's own float16 convolutions on this CPU are
~10x slower and say nothing definite about their accumulator.

The first op whose output turns Inf or NaN from finite inputs (an FP16 overflow) is recorded in :meth:`problems`.
"""

from __future__ import annotations

import copy

import numpy as np
import torch
from torch.overrides import TorchFunctionMode

EVALUATOR = "torch-fp16-ops"


def _half(t: torch.Tensor) -> torch.Tensor:
    return t.to(torch.float16).to(torch.float32)


class _RoundToHalf(TorchFunctionMode):
    """Rounds the float32 result of every op to float16; records the first op that made a value Inf/NaN."""

    def __init__(self, events: list[str]) -> None:
        super().__init__()
        self.events = events

    def __torch_function__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        if isinstance(out, torch.Tensor) and out.dtype == torch.float32:
            out = _half(out)
            # one sum is finite when every value is (half values cannot overflow a float32 sum); else look closer
            if not self.events and not (torch.isfinite(out.sum()) or torch.isfinite(out).all()):
                name = getattr(func, "__name__", str(func))
                self.events.append(f"{name} turned {int((~torch.isfinite(out)).sum())} value(s) Inf/NaN in fp16")
        return out


class Fp16OpsRunner:
    """NCHW float32 in and out, like every runner; ``z`` (NCHW) for a denoiser that takes it."""

    evaluator = EVALUATOR
    arithmetic = "fp16"

    def __init__(self, denoiser: torch.nn.Module, z: np.ndarray | None = None) -> None:
        self.denoiser = copy.deepcopy(denoiser).float().eval()
        with torch.no_grad():
            for t in [*self.denoiser.parameters(), *self.denoiser.buffers()]:
                if t.is_floating_point():
                    t.copy_(_half(t))
        self.z = None if z is None else _half(torch.from_numpy(np.asarray(z, dtype=np.float32)))
        self.events: list[str] = []

    def problems(self) -> list[str]:
        return self.events[:1]

    @torch.inference_mode()
    def run(self, batch: np.ndarray) -> np.ndarray:
        x = _half(torch.from_numpy(np.asarray(batch, dtype=np.float32)))
        with _RoundToHalf(self.events):
            out = self.denoiser(x) if self.z is None else self.denoiser(x, self.z)
        return out.numpy()
