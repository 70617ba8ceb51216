"""ExecuTorch with the Core ML delegate: ``torch.export`` -> Edge dialect lowered by ``CoreMLPartitioner`` (FP16
compute, iOS 16) -> ``.pte``. The export runs on Linux; the program runs on Apple devices only (ExecuTorch's Core ML
backend hands the delegated ML Program to Core ML).

The delegate blob inside the ``.pte`` is the ML Program package itself (a flattened folder):
:func:`~invdn_mobile.runtimes.executorch_coreml.extract` reads it back, so the program the phone would run is executed
here by the project's ML Program reference evaluator (:mod:`invdn_mobile.runtimes.coreml_mil`, FP16 arithmetic)
and gated like ``ios-fp16``; :func:`inspect` counts its ops and MACs with the Core ML backend's reader.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from invdn_mobile.errors import InvdnError
from invdn_mobile.export import coreml
from invdn_mobile.export import executorch as et
from invdn_mobile.model import Denoiser
from invdn_mobile.quiet import quiet
from invdn_mobile.runtimes.executorch_coreml import extract

MIN_TARGET = coreml.MIN_TARGET


def export(denoiser: Denoiser, precision: str, tile: int, path: Path, calibration=None, options=None) -> None:
    """Write one Core ML-delegated ``.pte`` to ``path`` (the caller makes the write atomic)."""
    if precision != "fp16":
        raise InvdnError(f"executorch-coreml: no precision {precision!r}")
    ct = coreml._require()
    et._require()
    from executorch.backends.apple.coreml.compiler import CoreMLBackend
    from executorch.backends.apple.coreml.partition import CoreMLPartitioner

    specs = CoreMLBackend.generate_compile_specs(
        compute_precision=ct.precision.FLOAT16, minimum_deployment_target=getattr(ct.target, MIN_TARGET)
    )
    denoiser = denoiser.eval()
    example = et.example(denoiser, tile)
    with quiet():
        pte = et.to_pte(denoiser, example, CoreMLPartitioner(compile_specs=specs))
    Path(path).write_bytes(pte)


def inspect(path: Path) -> dict:
    """The program's split (one Core ML delegate call, portable kernels), the ops, highest rank and convolution MACs
    of the delegated ML Program."""
    program = et.read_program(path)
    with tempfile.TemporaryDirectory() as tmp:
        report = coreml.inspect(extract(path, Path(tmp)))
    return {
        "ops": {f"coreml:{k}": v for k, v in report["ops"].items()}
        | {f"portable:{k}": v for k, v in program["portable"].items()},
        "delegation": {
            "delegated": {"coreml": report["ops"]} | {k: v for k, v in program["delegated"].items() if v},
            "portable": program["portable"],
        },
        "max_rank": max(report["max_rank"], program["max_rank"]),
        "macs": report["macs"],
    }


def validate(path: Path, entry: dict) -> list[str]:
    """Structural check: the whole graph is one Core ML program (no op left on portable kernels)."""
    program = et.read_program(path)
    return [f"ops on portable kernels: {', '.join(program['portable'])}"] if program["portable"] else []
