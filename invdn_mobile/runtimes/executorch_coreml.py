"""The Core ML program inside an ExecuTorch ``.pte`` (Core ML delegate), unpacked and run by the ML Program reference
evaluator (:mod:`invdn_mobile.runtimes.coreml_mil`) in the program's own FP16 arithmetic: what the delegate hands to
Core ML on an Apple device, executed here without one."""

from __future__ import annotations

import tempfile
from pathlib import Path

from invdn_mobile.errors import InvdnError
from invdn_mobile.extras import need
from invdn_mobile.quiet import quiet
from invdn_mobile.runtimes import manifest_z
from invdn_mobile.runtimes.coreml_mil import MilRunner
from invdn_mobile.runtimes.executorch_rt import delegate_blob

COREML_ID = "CoreMLBackend"
REFERENCE_MAGIC = b"CMJR"  # a blob that names a shared-data entry instead of holding the package


def extract(path: Path, folder: Path) -> Path:
    """Unpack the one Core ML program a ``.pte`` delegates to into ``folder``; its ``.mlpackage``."""
    executorchcoreml = need("executorch.backends.apple.coreml.executorchcoreml")
    deserialize_pte_binary = need("executorch.exir._serialize._program").deserialize_pte_binary

    with quiet():
        pte = deserialize_pte_binary(Path(path).read_bytes())
    delegates = [d for plan in pte.program.execution_plan for d in plan.delegates if d.id == COREML_ID]
    if len(delegates) != 1:
        raise InvdnError(f"{Path(path).name}: {len(delegates)} Core ML delegate(s), expected the whole graph in one")
    blob = delegate_blob(pte.program, delegates[0])
    if blob.startswith(REFERENCE_MAGIC):
        raise InvdnError(f"{Path(path).name}: the Core ML program is stored as shared data, not read here")
    if not executorchcoreml.unflatten_directory_contents(blob, str(folder)):
        raise InvdnError(f"{Path(path).name}: the Core ML delegate blob is not a packed folder")
    packages = sorted(Path(folder).rglob("*.mlpackage"))
    if len(packages) != 1:
        raise InvdnError(f"{Path(path).name}: {len(packages)} .mlpackage(s) in the Core ML delegate blob")
    return packages[0]


def load(path: Path, entry: dict, threads: int | None = None) -> MilRunner:
    if threads:
        import torch

        torch.set_num_threads(threads)
    with tempfile.TemporaryDirectory() as tmp:  # the evaluator reads every constant when it loads the program
        return MilRunner(extract(path, Path(tmp)), manifest_z(entry) if entry["z"]["as_input"] else None)
