"""The one table of export formats: CLI choices, validation, ``export all``, parity and benchmarks all read it.

A new format is one row here, one backend module (``export(denoiser, spec, path, calibration) -> None``) and one
runtime (``invdn_mobile.runtimes``). Rows are looked up by name, never by position.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from invdn_mobile.errors import InvdnError

PRECISIONS = ("fp32", "fp16", "int8")


@dataclass(frozen=True)
class Gate:
    """Parity gate of one precision; every bound must hold (None: not checked)."""

    max_abs_err: float | None = None  # vs the PyTorch FP32 output
    min_psnr_vs_torch: float | None = None  # dB, vs the PyTorch FP32 output
    max_drop_db: float | None = None  # PSNR vs clean lost against PyTorch FP32


GATES = {
    "fp32": Gate(max_abs_err=1e-4),
    "fp16": Gate(min_psnr_vs_torch=50.0),
    "int8": Gate(max_drop_db=0.3),
}


@dataclass(frozen=True)
class Format:
    name: str
    suffix: str
    precisions: tuple[str, ...]
    layout: str  # of the artifact's tensors
    backend: str  # "module:function" exporting one artifact
    runtime: str  # name in invdn_mobile.runtimes.RUNTIMES, or "" when it cannot run here
    extra: str  # pip extra with the toolchain
    needs_calibration: tuple[str, ...] = ()  # precisions that need calibration data

    def exporter(self):
        module, func = self.backend.split(":")
        return getattr(importlib.import_module(module), func)


FORMATS: dict[str, Format] = {}


def register(fmt: Format) -> Format:
    if fmt.name in FORMATS:
        raise RuntimeError(f"export format {fmt.name!r} registered twice")
    unknown = set(fmt.precisions) - set(PRECISIONS)
    if unknown:
        raise RuntimeError(f"export format {fmt.name!r}: unknown precisions {sorted(unknown)}")
    FORMATS[fmt.name] = fmt
    return fmt


register(
    Format(
        name="onnx",
        suffix=".onnx",
        precisions=("fp32", "fp16", "int8"),
        layout="NCHW",
        backend="invdn_mobile.export.onnx:export",
        runtime="onnxruntime",
        extra="export-onnx",
        needs_calibration=("int8",),
    )
)


def get_format(name: str) -> Format:
    try:
        return FORMATS[name]
    except KeyError:
        raise InvdnError(f"unknown format {name!r}; choose one of: {', '.join(FORMATS)}") from None


def check_precision(fmt: Format, precision: str) -> None:
    if precision not in fmt.precisions:
        raise InvdnError(
            f"format {fmt.name} has no precision {precision!r}; choose one of: {', '.join(fmt.precisions)}"
        )
