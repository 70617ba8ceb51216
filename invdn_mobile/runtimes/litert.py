"""LiteRT (TFLite) runner on this CPU (XNNPACK): NCHW in and out for the caller, NHWC inside."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from invdn_mobile.errors import missing_extra
from invdn_mobile.quiet import quiet
from invdn_mobile.runtimes import manifest_z


def interpreter(model: Path | bytes, threads: int | None = None):
    """An ai-edge-litert Interpreter for a ``.tflite`` path or its bytes."""
    try:
        with quiet():
            from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        raise missing_extra("ai-edge-litert", "export-tflite") from None
    if isinstance(model, (bytes, bytearray)):
        return Interpreter(model_content=bytes(model), num_threads=threads)
    return Interpreter(model_path=str(model), num_threads=threads)


class LiteRTRunner:
    """Runs a ``.tflite`` (path or bytes) tile by tile; ``z`` (NCHW) is fed to artifacts that take it. ``signature``:
    something else with the signature-runner interface to drive instead of a local interpreter (e.g. the aarch64
    runtime under emulation, :mod:`invdn_mobile.runtimes.arm64`)."""

    evaluator = "litert-xnnpack"  # the interpreter's default CPU delegate

    def __init__(
        self, model: Path | bytes, z: np.ndarray | None = None, threads: int | None = None, signature=None
    ) -> None:
        self.runner = signature or interpreter(model, threads).get_signature_runner()
        details = self.runner.get_input_details() | self.runner.get_output_details()
        # integer I/O (full-integer files): name -> (dtype, scale, zero point); float tensors are fed as they are
        self.quant = {k: (d["dtype"], *d["quantization"]) for k, d in details.items() if d["dtype"] != np.float32}
        self.z = None if z is None else self._in("z", np.ascontiguousarray(z.transpose(0, 2, 3, 1), dtype=np.float32))

    def _in(self, name: str, x: np.ndarray) -> np.ndarray:
        if name not in self.quant:
            return x
        dtype, scale, zero = self.quant[name]
        info = np.iinfo(dtype)
        return np.clip(np.round(x / scale) + zero, info.min, info.max).astype(dtype)

    def _out(self, name: str, y: np.ndarray) -> np.ndarray:
        if name not in self.quant:
            return y
        _, scale, zero = self.quant[name]
        return ((y.astype(np.float32) - zero) * scale).astype(np.float32)

    def run(self, batch: np.ndarray) -> np.ndarray:
        outs = []
        for item in batch:  # artifacts have a fixed batch of 1
            feed = {
                "image": self._in("image", np.ascontiguousarray(item[None].transpose(0, 2, 3, 1), dtype=np.float32))
            }
            if self.z is not None:
                feed["z"] = self.z
            ((name, out),) = self.runner(**feed).items()
            outs.append(self._out(name, out)[0].transpose(2, 0, 1))
        return np.stack(outs)


def load(path: Path, entry: dict, threads: int | None = None) -> LiteRTRunner:
    return LiteRTRunner(path, manifest_z(entry) if entry["z"]["as_input"] else None, threads or None)
