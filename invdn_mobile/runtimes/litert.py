"""LiteRT (TFLite) runner on this CPU (XNNPACK): NCHW in and out for the caller, NHWC inside."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from invdn_mobile.errors import InvdnError
from invdn_mobile.extras import dist_version, install_hint, need
from invdn_mobile.runtimes import manifest_z


def interpreter(model: Path | bytes, threads: int | None = None):
    """An ai-edge-litert Interpreter for a ``.tflite`` path or its bytes."""
    Interpreter = need("ai_edge_litert.interpreter", silent=True).Interpreter
    if isinstance(model, (bytes, bytearray)):
        return Interpreter(model_content=bytes(model), num_threads=threads)
    return Interpreter(model_path=str(model), num_threads=threads)


def to_integer(x: np.ndarray, dtype, scale: float, zero: int) -> np.ndarray:
    """Float values as an integer tensor's codes: round(x / scale) + zero point, clipped to the type's range."""
    info = np.iinfo(dtype)
    return np.clip(np.round(x / scale) + zero, info.min, info.max).astype(dtype)


OP_KEYS = {"op_name", "inputs", "outputs"}


def ops_details(interp) -> list[dict]:
    """Every op of a loaded file in execution order: ``op_name`` and its ``inputs``/``outputs`` tensor indices.

    LiteRT has no public call for this; it is the interpreter's private ``_get_ops_details`` (ai-edge-litert 2.3).
    This guard is the one place that calls it: a release without it, or with another shape of answer, fails here in
    one line naming the installed version, not with an AttributeError in the middle of an export."""
    get = getattr(interp, "_get_ops_details", None)
    ops = get() if callable(get) else None
    if not isinstance(ops, list) or not all(isinstance(o, dict) and OP_KEYS <= o.keys() for o in ops):
        raise InvdnError(
            f"ai-edge-litert {dist_version('ai_edge_litert')}: Interpreter._get_ops_details "
            f"{'is gone' if ops is None else 'answers in an unknown form'} (a private API, read to list a file's ops; "
            f"known to work in 2.3): {install_hint('ai_edge_litert')} installs that release"
        )
    return ops


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
        return to_integer(x, *self.quant[name])

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
