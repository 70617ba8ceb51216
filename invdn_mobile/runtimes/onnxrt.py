"""ONNX Runtime (CPU) runner."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from invdn_mobile.errors import missing_extra
from invdn_mobile.runtimes import manifest_z


class OrtRunner:
    def __init__(self, path: Path, entry: dict, threads: int = 0) -> None:
        try:
            import onnxruntime as ort
        except ImportError:
            raise missing_extra("onnxruntime", "export-onnx") from None
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.inputs = [i.name for i in self.session.get_inputs()]
        self.z = manifest_z(entry) if len(self.inputs) > 1 else None

    def run(self, batch: np.ndarray) -> np.ndarray:
        outs = []
        for item in batch:  # artifacts have a fixed batch of 1
            feed = {self.inputs[0]: item[None].astype(np.float32)}
            if self.z is not None:
                feed[self.inputs[1]] = self.z
            outs.append(self.session.run(None, feed)[0][0])
        return np.stack(outs)


def load(path: Path, entry: dict) -> OrtRunner:
    return OrtRunner(path, entry)
