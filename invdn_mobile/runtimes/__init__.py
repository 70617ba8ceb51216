"""Runtimes registry: ``load(path, manifest_entry) -> Runner``; ``Runner.run(nchw_float32) -> nchw_float32``.
A runner may also say ``clips_output`` (its output is clipped to [0, 1] inside the artifact) and ``problems()``
(values that turned Inf/NaN inside, e.g. an FP16 overflow).

A runner owns its layout conversion (e.g. NHWC for TFLite) so nobody else does; z-input artifacts are fed the seeded
z_HF recorded in their manifest entry, so they compute exactly what the constant-z artifact computes.
"""

from __future__ import annotations

import importlib
import os
from typing import Protocol

import numpy as np

from invdn_mobile.errors import InvdnError
from invdn_mobile.model.denoiser import sample_z


class Runner(Protocol):
    evaluator: str  # what executes the artifact, named in every parity row (e.g. "coreml-mil-reference")

    def run(self, batch: np.ndarray) -> np.ndarray: ...


RUNTIMES = {
    "onnxruntime": "invdn_mobile.runtimes.onnxrt:load",
    "litert": "invdn_mobile.runtimes.litert:load",
    "coreml-mil": "invdn_mobile.runtimes.coreml_mil:load",
    "executorch": "invdn_mobile.runtimes.executorch_rt:load",
    "executorch-coreml-mil": "invdn_mobile.runtimes.executorch_coreml:load",
}


def load_runner(runtime: str, path, entry: dict, **options) -> Runner:
    """``options``: ``threads`` (intra-op threads; 0/None: the runtime's default, or ``INVDN_THREADS`` where that is
    set, as in an export worker) and, for ONNX Runtime, ``providers``."""
    if runtime not in RUNTIMES:
        raise InvdnError(f"no runtime {runtime!r} on this machine (known: {', '.join(RUNTIMES)})")
    if not options.get("threads") and os.environ.get("INVDN_THREADS", "").isdigit():
        options["threads"] = int(os.environ["INVDN_THREADS"])
    module, func = RUNTIMES[runtime].split(":")
    return getattr(importlib.import_module(module), func)(path, entry, **options)


def manifest_z(entry: dict) -> np.ndarray:
    """The z_HF an artifact with a z input must be fed (seed and scale from its manifest entry)."""

    shape = tuple(entry["z"]["shape"])  # always NCHW; the runner converts to its artifact's layout
    return sample_z(shape, entry["z"]["seed"], entry["z"]["scale"]).numpy()
