"""The parity gates: the bars an exported artifact must meet to be kept, one per precision. Data only, at the bottom
of the package, so that export, parity, the report and the docs read the same numbers from one place."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Gate:
    """Parity gate of one precision, read on the parity set (the held-out and the stress photos, every photo at every
    noise level); every bound must hold (None: not checked). NaN or Inf in any output, or an output of the wrong
    shape, always fails."""

    max_abs_err: float | None = None  # any output value of any photo off the PyTorch FP32 output by more fails
    min_psnr_vs_torch: float | None = None  # dB, vs the PyTorch FP32 output, on the worst photo
    max_drop_db: float | None = None  # PSNR vs clean lost against PyTorch FP32, mean over the photos
    max_drop_worst_db: float | None = None  # the same on the worst photo
    # the bounds are read on the cases where the PyTorch FP32 output stays within [-domain, 1 + domain] (the model's
    # domain; None: every case). Outside it the float model itself fails (e.g. the compact v3 weights on flat
    # saturated colours, docs/quality.md) and the quantized ranges, calibrated where it works, cannot follow it.
    domain: float | None = None


# INT8: the mean drop, the worst photo's drop, and a bound on single values far beyond the noise (0.25 of the range)
# whatever the means say. Read on photos that stress the calibrated ranges (issue 31: six ordinary photos hid drops of
# up to 11 dB on saturated colours and highlights).
INT8_GATE = Gate(max_drop_db=0.1, max_drop_worst_db=0.3, max_abs_err=0.25, domain=0.25)
GATES = {
    "fp32": Gate(max_abs_err=1e-4),
    "fp16": Gate(min_psnr_vs_torch=50.0),
    "int8": INT8_GATE,
    "int8dyn": INT8_GATE,
    "int8w": INT8_GATE,
}
# The FP16-compute row of an FP16 artifact whose runtime here computes in FP32 (its targets compute in FP16: the LiteRT
# GPU delegate, WebGPU, CUDA): the denoiser evaluated with FP16 arithmetic (invdn_mobile.runtimes.torch_fp16)
FP16_COMPUTE_GATE = Gate(min_psnr_vs_torch=50.0)
