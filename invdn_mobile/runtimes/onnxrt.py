"""ONNX Runtime (CPU) runner."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from invdn_mobile.extras import need
from invdn_mobile.runtimes import manifest_z


class OrtRunner:
    """Runs an ONNX model (path or serialized bytes) tile by tile; ``z`` is fed to artifacts that take it.
    ``session``: something else with the session interface to drive instead of a local one (e.g. the aarch64 runtime
    under emulation, :mod:`invdn_mobile.runtimes.arm64`)."""

    def __init__(
        self,
        model: Path | bytes,
        z: np.ndarray | None = None,
        threads: int = 0,
        providers: list[str] | None = None,
        session=None,
    ) -> None:
        self.session = session or _session(model, threads, providers)
        self.inputs = [i.name for i in self.session.get_inputs()]
        self.z = z
        cuda = "CUDAExecutionProvider" in self.session.get_providers()
        self.evaluator = "onnxruntime-cuda" if cuda else "onnxruntime-cpu"

    def run(self, batch: np.ndarray) -> np.ndarray:
        outs = []
        for item in batch:  # artifacts have a fixed batch of 1
            feed = {self.inputs[0]: item[None].astype(np.float32)}
            if self.z is not None:
                feed[self.inputs[1]] = self.z
            outs.append(self.session.run(None, feed)[0][0])
        return np.stack(outs)


def _session(model: Path | bytes, threads: int, providers: list[str] | None):
    ort = need("onnxruntime")
    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    source = model if isinstance(model, (bytes, bytearray)) else str(model)
    return ort.InferenceSession(source, options, providers=providers or ["CPUExecutionProvider"])


def load(path: Path, entry: dict, threads: int = 0, providers: list[str] | None = None) -> OrtRunner:
    return OrtRunner(path, manifest_z(entry) if entry["z"]["as_input"] else None, threads, providers)
