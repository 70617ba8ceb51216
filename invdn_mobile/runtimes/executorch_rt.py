"""ExecuTorch runner: a ``.pte`` program on ExecuTorch's own runtime (the XNNPACK delegate's kernels for what was
lowered to it, portable kernels for the rest), through its Python bindings."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from invdn_mobile.errors import InvdnError
from invdn_mobile.extras import need
from invdn_mobile.runtimes import manifest_z


class ExecuTorchRunner:
    """Runs a ``.pte`` (path or bytes) tile by tile; ``z`` is fed to programs that take it. ``threads`` sets the
    size of ExecuTorch's (process-wide) thread pool that XNNPACK runs on."""

    evaluator = "executorch-xnnpack"

    def __init__(self, program: Path | bytes, z: np.ndarray | None = None, threads: int | None = None) -> None:
        import torch

        portable_lib = need("executorch.extension.pybindings.portable_lib")
        Runtime = need("executorch.runtime").Runtime  # noqa: N806
        if threads:
            portable_lib._unsafe_reset_threadpool(int(threads))
        self.threads = portable_lib._threadpool_get_thread_count()
        source = bytes(program) if isinstance(program, (bytes, bytearray)) else Path(program)
        self.method = Runtime.get().load_program(source).load_method("forward")
        self.z = None if z is None else torch.from_numpy(np.ascontiguousarray(z, dtype=np.float32))
        self._torch = torch

    def run(self, batch: np.ndarray) -> np.ndarray:
        outs = []
        for item in batch:  # programs have a fixed batch of 1
            x = self._torch.from_numpy(np.ascontiguousarray(item[None], dtype=np.float32))
            feed = [x] if self.z is None else [x, self.z]
            outs.append(self.method.execute(feed)[0].numpy()[0].copy())  # the output buffer is reused
        return np.stack(outs)


def delegate_blob(program, delegate) -> bytes:
    """The bytes a deserialized program holds for one delegate call (inlined by the deserializer)."""
    from executorch.exir.schema import DataLocation

    if delegate.processed.location != DataLocation.INLINE:
        raise InvdnError(f"delegate {delegate.id}: data not inlined after deserializing")
    return program.backend_delegate_data[delegate.processed.index].data


def load(path: Path, entry: dict, threads: int | None = None) -> ExecuTorchRunner:
    return ExecuTorchRunner(path, manifest_z(entry) if entry["z"]["as_input"] else None, threads)
