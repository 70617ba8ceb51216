"""The parity gates: the bars an exported artifact must meet to be kept, one per precision. Data only, at the bottom
of the package, so that export, parity, the report and the docs read the same numbers from one place."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Gate:
    """Parity gate of one precision, read on the held-out parity set (every photo at every noise level); every bound
    must hold (None: not checked). NaN or Inf in any output, or an output of the wrong shape, always fails."""

    max_abs_err: float | None = None  # any output value of any photo off the PyTorch FP32 output by more fails
    min_psnr_vs_torch: float | None = None  # dB, vs the PyTorch FP32 output, on the worst photo
    max_drop_db: float | None = None  # PSNR vs clean lost against PyTorch FP32, mean over the photos


# INT8: the mean drop, and a bound on single values far beyond the noise (0.25 of the range) whatever the mean says
GATES = {
    "fp32": Gate(max_abs_err=1e-4),
    "fp16": Gate(min_psnr_vs_torch=50.0),
    "int8": Gate(max_drop_db=0.3, max_abs_err=0.25),
    "int8dyn": Gate(max_drop_db=0.3, max_abs_err=0.25),
}
# The FP16-compute row of an FP16 artifact whose runtime here computes in FP32 (its targets compute in FP16: the LiteRT
# GPU delegate, WebGPU, CUDA): the denoiser evaluated with FP16 arithmetic (invdn_mobile.runtimes.torch_fp16)
FP16_COMPUTE_GATE = Gate(min_psnr_vs_torch=50.0)
