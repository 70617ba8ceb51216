"""What ``invdn bench`` times: PyTorch (eager, ``torch.compile``; FP32/FP16/BF16 channels_last on CUDA) on the weights
of each variant, and every exported artifact found in the export folder, each through its runtime (ONNX Runtime CPU and
CUDA, LiteRT with XNNPACK). Artifacts no runtime here can time (Core ML: its reference evaluator checks what a
program computes, it says nothing about a device's speed) or not exported yet become skipped rows that say why."""

from __future__ import annotations

import copy
import os
from pathlib import Path

import numpy as np
import torch

from invdn_mobile.bench.harness import RUNTIME_BACKENDS, Backend, TileFn
from invdn_mobile.denoise import load_denoiser, resolve_weights
from invdn_mobile.errors import InvdnError
from invdn_mobile.export.manifest import read_manifest
from invdn_mobile.export.registry import get_format
from invdn_mobile.export.targets import load_targets
from invdn_mobile.extras import need
from invdn_mobile.model.macs import model_macs
from invdn_mobile.runtimes import load_runner

TORCH_DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


def torch_tile_fn(module: torch.nn.Module, device: str, dtype: torch.dtype, channels_last: bool) -> TileFn:
    @torch.inference_mode()
    def fn(batch: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(batch).to(device=device, dtype=dtype)
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return module(x).float().cpu().numpy()

    return fn


def torch_backends(weights: Path | None, variant: str, device: str, tile: int, compile_: bool = True) -> list[Backend]:
    """PyTorch rows for one variant: CPU eager (+ compile) FP32; on CUDA eager FP32/FP16/BF16 channels_last (+ compile
    of FP16)."""

    path = resolve_weights(weights, variant)
    denoiser, meta = load_denoiser(path, None if weights else variant, torch.device("cpu"))
    variant = meta.get("variant") or "custom"
    denoiser = type(denoiser)(denoiser.model, tile=(tile, tile), seed=denoiser.seed, z_scale=denoiser.z_scale).eval()
    macs = model_macs(denoiser.model, tile, tile)["denoiser"]
    size = path.stat().st_size

    def row(name: str, precision: str, dev: str, make, threads=None) -> Backend:
        return Backend(name, "pytorch", precision, dev, tile, macs, make, bytes=size, variant=variant, threads=threads)

    if device == "cpu":
        threads = torch.get_num_threads()
        rows = [
            row("torch-eager", "fp32", "cpu", lambda: torch_tile_fn(denoiser, "cpu", torch.float32, False), threads)
        ]
        if compile_:
            rows.append(
                row(
                    "torch-compile",
                    "fp32",
                    "cpu",
                    lambda: torch_tile_fn(torch.compile(denoiser), "cpu", torch.float32, False),
                    threads,
                )
            )
        return rows

    def cuda_fn(precision: str, compiled: bool):
        def make():
            dtype = TORCH_DTYPES[precision]
            module = copy.deepcopy(denoiser).to("cuda", dtype).to(memory_format=torch.channels_last).eval()
            return torch_tile_fn(torch.compile(module) if compiled else module, "cuda", TORCH_DTYPES[precision], True)

        return make

    rows = [row("torch-cuda-eager", p, "cuda", cuda_fn(p, False)) for p in ("fp32", "fp16", "bf16")]
    if compile_:
        rows.append(row("torch-cuda-compile", "fp16", "cuda", cuda_fn("fp16", True)))
    return rows


def artifact_backends(
    artifacts: Path, device: str, variants: list[str] | None = None, threads: int | None = None
) -> list[Backend]:
    """One row per constant-z artifact of every target recipe found in ``artifacts`` (``export/out``); targets not
    exported yet are skipped rows. On CUDA: the ONNX artifacts on ONNX Runtime's CUDA provider. ``threads``: the
    runtimes' intra-op threads (default: every core)."""

    cores = threads or os.cpu_count() or 1
    rows = []
    for name, target in load_targets().items():
        fmt = get_format(target.format)
        backend = RUNTIME_BACKENDS.get(fmt.runtime, fmt.name)
        if device == "cuda":
            if fmt.name != "onnx" or target.precision not in ("fp32", "fp16"):
                continue
            backend = "onnxruntime-cuda"
        folder = Path(artifacts) / name
        try:
            entries = [e for e in read_manifest(folder) if not e["z"]["as_input"]]
        except InvdnError:
            entries = []
        if not entries:
            if variants is None or target.variant in variants:
                rows.append(
                    Backend(
                        backend,
                        fmt.name,
                        target.precision,
                        device,
                        target.tile,
                        None,
                        None,
                        target=name,
                        variant=target.variant,
                        skip=f"not exported: run `invdn export {name}`",
                    )
                )
            continue
        for entry in entries:
            if variants is not None and entry["variant"] not in variants:
                continue
            path = folder / entry["file"]
            common = dict(
                bytes=entry["bytes"],
                artifact=entry["file"],
                target=name,
                variant=entry["variant"],
                parity=_parity(entry),
                weights_sha256=entry.get("weights", {}).get("sha256"),
            )
            tile = entry["tile"][0]
            macs = entry["macs"]["graph"]
            if device == "cuda":
                make = _ort_cuda_maker(path, entry)
                rows.append(Backend(backend, "onnx", entry["precision"], "cuda", tile, macs, make, **common))
            elif fmt.runtime not in RUNTIME_BACKENDS:  # nothing here runs it as its target would
                why = fmt.why_not_run or f"{fmt.runtime} checks what the artifact computes, not a device's speed"
                rows.append(Backend(backend, fmt.name, entry["precision"], "cpu", tile, macs, None, skip=why, **common))
            else:

                def make(runtime=fmt.runtime, path=path, entry=entry):
                    return load_runner(runtime, path, entry, threads=cores).run

                rows.append(
                    Backend(backend, fmt.name, entry["precision"], "cpu", tile, macs, make, threads=cores, **common)
                )
    return rows


def _ort_cuda_maker(path: Path, entry: dict):
    def make():
        ort = need("onnxruntime")
        if "CUDAExecutionProvider" not in ort.get_available_providers():
            raise InvdnError("onnxruntime has no CUDAExecutionProvider here (install onnxruntime-gpu)")
        return load_runner("onnxruntime", path, entry, providers=["CUDAExecutionProvider"]).run

    return make


def _parity(entry: dict) -> dict:
    """The export parity of an artifact, as optional row fields (a manifest from before parity statuses: unverified)."""
    p = entry.get("parity") or {}
    status = (entry.get("gate") or {}).get("status", "unverified")
    executed = status != "unverified"
    return {
        "parity_drop_db": p.get("drop_db") if executed else None,
        "parity_psnr_vs_torch": p.get("psnr_vs_torch") if executed else None,
        "parity_status": status,
    }
