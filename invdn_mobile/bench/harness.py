"""``invdn bench``: latency of every runnable backend over a size sweep, as rows of the results schema.

Every image goes through the one tiling plan (:mod:`invdn_mobile.tiling`) at the artifact's tile, PyTorch included,
so every row of a size does the same work (``macs`` = tiles x MACs per tile). Each row: warm-up runs (compilation
included), then timed runs until ``repeats`` are done or ``max_seconds`` is spent (at least ``min_repeats``); median,
p90, min. The machine's peak MAC rates are measured in the same run (large GEMMs: PyTorch FP32 and, on CUDA,
FP16/BF16; ONNX Runtime MatMulInteger u8 x s8 for INT8), so ``peak_fraction`` compares like with like. A backend that
cannot run is a row with ``status`` skipped/failed and the reason, never a missing row.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import math
import os
import platform
import re
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from invdn_mobile.errors import InvdnError
from invdn_mobile.extras import have, need
from invdn_mobile.tiling import default_overlap, plan, run_tiled

TileFn = Callable[[np.ndarray], np.ndarray]
NAMED_SIZES = {
    "12mp": (3000, 4000),
    "50mp": (5773, 8660),
    "100mp": (8660, 11547),
    "4k": (2160, 3840),
    "1080p": (1080, 1920),
}
RUNTIME_BACKENDS = {"onnxruntime": "onnxruntime-cpu", "litert": "litert-xnnpack", "executorch": "executorch-xnnpack"}
PEAK_KEY = {"fp32": "fp32", "fp16": "fp16", "bf16": "bf16", "int8": "int8", "int8dyn": "int8", "int8w": "fp32"}


@dataclass
class Backend:
    """One thing to time: ``make()`` builds a tile function (NCHW float32 -> NCHW float32) or raises."""

    backend: str
    format: str
    precision: str
    device: str
    tile: int
    macs_per_tile: int | None
    make: Callable[[], TileFn] | None
    bytes: int | None = None
    artifact: str | None = None
    target: str | None = None
    variant: str | None = None
    threads: int | None = None
    skip: str | None = None  # a reason: the row is reported as skipped
    parity: dict = field(default_factory=dict)  # artifact rows: parity_drop_db, parity_psnr_vs_torch, parity_status
    weights_sha256: str | None = None  # artifact rows: the weights the artifact was exported from


@dataclass
class Settings:
    warmup: int = 1
    repeats: int = 10
    min_repeats: int = 3
    max_seconds: float = 20.0
    batch: int = 1
    seed: int = 0
    extra: dict = field(default_factory=dict)


def parse_sizes(text: str) -> list[tuple[int, int]]:
    """``"128,256,3000x4000,12mp"`` -> ``[(128, 128), (256, 256), (3000, 4000), (3000, 4000)]`` (height x width)."""
    sizes = []
    for part in (p.strip().lower() for p in text.split(",") if p.strip()):
        if part in NAMED_SIZES:
            sizes.append(NAMED_SIZES[part])
            continue
        m = re.fullmatch(r"(\d+)(?:x(\d+))?", part)
        if not m:
            raise InvdnError(f"bad size {part!r}: use N (square), HxW, or one of {', '.join(NAMED_SIZES)}")
        h, w = int(m.group(1)), int(m.group(2) or m.group(1))
        if not (4 <= h <= 20000 and 4 <= w <= 20000):
            raise InvdnError(f"size {part!r} out of range (4..20000 per side)")
        sizes.append((h, w))
    if not sizes:
        raise InvdnError("no sizes given")
    return sizes


def percentile(values: list[float], q: float) -> float:
    """Linear-interpolated percentile (q in [0, 100])."""
    s = sorted(values)
    k = (len(s) - 1) * q / 100
    lo, hi = math.floor(k), math.ceil(k)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def time_runs(fn: Callable[[], object], settings: Settings) -> list[float]:
    """Milliseconds of each timed run of ``fn`` after ``settings.warmup`` untimed runs."""
    for _ in range(settings.warmup):
        fn()
    times: list[float] = []
    spent = 0.0
    while len(times) < settings.repeats and (len(times) < settings.min_repeats or spent < settings.max_seconds):
        t0 = time.perf_counter()
        fn()
        dt_s = time.perf_counter() - t0
        times.append(dt_s * 1e3)
        spent += dt_s
    return times


# --- memory --------------------------------------------------------------------------------------------------------


def reset_peak_memory(device: str) -> None:
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
        return
    try:  # Linux: writing 5 resets the process's peak RSS (VmHWM)
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def peak_memory(device: str) -> int | None:
    if device == "cuda":
        return int(torch.cuda.max_memory_allocated())
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


# --- peak MAC rates --------------------------------------------------------------------------------------------------


def _gemm_rate(fn: Callable[[], object], macs: int, sync: Callable[[], None], seconds: float = 1.0) -> float:
    fn()
    sync()
    best = math.inf
    t_end = time.perf_counter() + seconds
    while time.perf_counter() < t_end or best == math.inf:
        t0 = time.perf_counter()
        fn()
        sync()
        best = min(best, time.perf_counter() - t0)
    return macs / best / 1e9


def measure_peaks(device: str) -> dict[str, float]:
    """GMAC/s of large GEMMs on ``device``: fp32 (+ fp16/bf16 on CUDA) through PyTorch, int8 on CPU through ONNX
    Runtime's MatMulInteger (u8 x s8, the kernel family its INT8 convolutions use)."""
    peaks = {}
    if device == "cuda":
        n = 8192
        sync = torch.cuda.synchronize
        for key, dtype in (("fp32", torch.float32), ("fp16", torch.float16), ("bf16", torch.bfloat16)):
            a = torch.randn(n, n, device="cuda", dtype=dtype)
            b = torch.randn(n, n, device="cuda", dtype=dtype)
            peaks[key] = round(_gemm_rate(lambda a=a, b=b: a @ b, n**3, sync), 1)
        return peaks
    n = 1536
    a = torch.randn(n, n)
    b = torch.randn(n, n)
    peaks["fp32"] = round(_gemm_rate(lambda: a @ b, n**3, lambda: None), 1)
    int8 = _int8_gemm_rate(n)
    if int8 is not None:
        peaks["int8"] = round(int8, 1)
    return peaks


def _int8_gemm_rate(n: int) -> float | None:
    if not (have("onnx") and have("onnxruntime")):
        return None
    onnx, ort = need("onnx"), need("onnxruntime")
    TensorProto, helper, numpy_helper = onnx.TensorProto, onnx.helper, onnx.numpy_helper
    rng = np.random.default_rng(0)
    weight = numpy_helper.from_array(rng.integers(-127, 128, (n, n), dtype=np.int8), "B")
    graph = helper.make_graph(
        [helper.make_node("MatMulInteger", ["A", "B"], ["Y"])],
        "int8_gemm",
        [helper.make_tensor_value_info("A", TensorProto.UINT8, [n, n])],
        [helper.make_tensor_value_info("Y", TensorProto.INT32, [n, n])],
        [weight],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    a = rng.integers(0, 256, (n, n), dtype=np.uint8)
    onnx.checker.check_model(model)
    return _gemm_rate(lambda: session.run(None, {"A": a}), n**3, lambda: None)


# --- machine facts -------------------------------------------------------------------------------------------------


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def library_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version(), "torch": torch.__version__}
    for name in ("onnxruntime", "onnxruntime-gpu", "ai-edge-litert", "executorch", "numpy", "invdn-mobile"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            pass
    if torch.cuda.is_available():
        out["cuda"] = str(torch.version.cuda)
    return out


# int8 dot-product instruction sets that decide what an int8 kernel can gain over FP32 (x86: VNNI, AMX; ARM: SDOT,
# I8MM); /proc/cpuinfo spells them so.
INT8_FLAGS = ("avx2", "avx512bw", "avx512_vnni", "avx_vnni", "amx_int8", "asimddp", "i8mm")


def cpu_int8_flags(cpuinfo: str | None = None) -> dict[str, bool] | None:
    """Which of :data:`INT8_FLAGS` the CPU reports (None where /proc/cpuinfo cannot be read)."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            return None
    flags = set()
    for line in cpuinfo.splitlines():
        if line.split(":")[0].strip() in ("flags", "Features"):
            flags |= set(line.split(":", 1)[1].split())
    is_arm = "asimd" in flags
    wanted = [f for f in INT8_FLAGS if (f in ("asimddp", "i8mm")) == is_arm]
    return {f: f in flags for f in wanted}


def machine_facts(device: str, name: str | None = None, peaks: dict | None = None) -> dict:
    gpu = torch.cuda.get_device_name() if device == "cuda" else None
    cpu = cpu_model()
    cores = os.cpu_count() or 1
    if name is None:
        base = gpu or cpu
        slug = re.sub(r"[^a-z0-9]+", "-", base.lower()).strip("-")
        slug = re.sub(r"-(processor|cpu|\d+-core)", "", slug)[:40].strip("-")
        name = slug if gpu else f"{slug}-{cores}c"
    facts = {
        "name": name,
        "kind": "server" if (gpu or cores >= 8) else "desktop",
        "cpu": cpu,
        "cores": cores,
        "gpu": gpu,
        "os": f"{platform.system()} {platform.release()}",
        "libraries": library_versions(),
    }
    int8 = cpu_int8_flags()
    if int8 is not None:
        facts["cpu_int8"] = int8
    if peaks:
        facts["peak_gmacs"] = peaks
    return facts


# --- the run -------------------------------------------------------------------------------------------------------


def select(backends: list[Backend], patterns: list[str] | None) -> list[Backend]:
    """Keep the backends whose ``backend`` or ``backend:precision`` matches one of the glob ``patterns``."""
    if not patterns:
        return backends
    return [
        b
        for b in backends
        if any(fnmatch.fnmatch(n, p) for p in patterns for n in (b.backend, f"{b.backend}:{b.precision}"))
    ]


def _base_row(b: Backend, size: tuple[int, int], tiles: int, settings: Settings) -> dict:
    return {
        "backend": b.backend,
        "format": b.format,
        "precision": b.precision,
        "variant": b.variant,
        "artifact": b.artifact,
        "target": b.target,
        "device": b.device,
        "size": f"{size[0]}x{size[1]}",
        "height": size[0],
        "width": size[1],
        "tiles": tiles,
        "tile": b.tile,
        "threads": b.threads,
        "batch": settings.batch,
        "macs": None if b.macs_per_tile is None else b.macs_per_tile * tiles,
        "bytes": b.bytes,
        "status": "skipped",
        "median_ms": None,
        "p90_ms": None,
        "speedup_vs_torch_eager": None,
        "speedup_vs_fp32": None,
    } | b.parity


def _one_line(exc: BaseException) -> str:
    text = f"{exc.__class__.__name__}: {exc}".strip().splitlines()[0]
    return text[:300]


def run_bench(
    backends: list[Backend],
    sizes: list[tuple[int, int]],
    settings: Settings,
    peaks: dict[str, float],
    on_row: Callable[[dict], None] | None = None,
) -> list[dict]:
    """Time every backend at every size; ratios are filled in against this run's rows."""
    rng = np.random.default_rng(settings.seed)
    rows = []
    for b in backends:
        fn = None
        error, skipped = b.skip, b.skip is not None
        if error is None and b.make is not None:
            try:
                fn = b.make()
            except InvdnError as exc:  # cannot run here (missing runtime/provider): skipped, with the reason
                error, skipped = str(exc), True
            except Exception as exc:  # a backend that fails to load is a row, not an abort
                error = _one_line(exc)
        for size in sizes:
            p = plan(size[0], size[1], b.tile, default_overlap(b.tile))
            row = _base_row(b, size, len(p), settings)
            if fn is None:
                row["status"] = "skipped" if skipped else "failed"
                row["error"] = error or "no runner"
            else:
                image = rng.random((size[0], size[1], 3), dtype=np.float32)
                try:
                    reset_peak_memory(b.device)
                    times = time_runs(lambda fn=fn, image=image, p=p: run_tiled(image, fn, p, settings.batch), settings)
                    row.update(
                        status="ok",
                        median_ms=round(statistics.median(times), 3),
                        p90_ms=round(percentile(times, 90), 3),
                        min_ms=round(min(times), 3),
                        repeats=len(times),
                        warmup=settings.warmup,
                        peak_mem_bytes=peak_memory(b.device),
                    )
                except Exception as exc:
                    row.update(status="failed", error=_one_line(exc))
            rows.append(row)
            if on_row is not None:
                on_row(row)
    add_ratios(rows, peaks)
    return rows


def add_ratios(rows: list[dict], peaks: dict[str, float]) -> None:
    """Speed-up vs PyTorch eager FP32 and vs the same backend's FP32 (same device and size, this run), achieved
    GMAC/s and its fraction of the measured peak of the row's precision."""
    ok = [r for r in rows if r["status"] == "ok"]
    eager = {
        (r["device"], r["size"], r["variant"]): r["median_ms"]
        for r in ok
        if r["format"] == "pytorch" and r["backend"].endswith("eager") and r["precision"] == "fp32"
    }
    fp32 = {
        (r["backend"], r["device"], r["size"], r["variant"]): r["median_ms"] for r in ok if r["precision"] == "fp32"
    }
    for r in ok:
        base = eager.get((r["device"], r["size"], r["variant"]))
        r["speedup_vs_torch_eager"] = round(base / r["median_ms"], 3) if base else None
        own = fp32.get((r["backend"], r["device"], r["size"], r["variant"]))
        r["speedup_vs_fp32"] = round(own / r["median_ms"], 3) if own else None
        if r["macs"]:
            rate = r["macs"] / (r["median_ms"] / 1e3) / 1e9
            r["gmacs_per_s"] = float(f"{rate:.4g}")
            prefix = "cuda_" if r["device"] == "cuda" else ""
            peak = peaks.get(prefix + PEAK_KEY[r["precision"]]) or peaks.get(prefix + "fp32")
            r["peak_fraction"] = float(f"{rate / peak:.4g}") if peak else None


def results_document(rows: list[dict], machine: dict, source: str = "invdn-bench") -> dict:
    return {
        "schema_version": 1,
        "source": source,
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine": machine,
        "rows": rows,
    }
