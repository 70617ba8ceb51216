"""``invdn target arm64``: exported artifacts on the phone's own CPU kernels (aarch64 LiteRT / ONNX Runtime under
user-mode QEMU, :mod:`invdn_mobile.runtimes.arm64`), on a fixed set of tiles, per emulated core:

- the parity row of the run (max abs error and PSNR against PyTorch FP32, drop against the clean photos) judged by
  the artifact's own gate (``pass`` only for what ran and met it; FP16-forced rows by the FP16-compute gate);
- the max abs difference to the same artifact on this machine's x86 runtime, on the same tiles;
- the ARM instructions of one model call (QEMU TCG plugin; the median of the calls after the first, which also packs
  the weights), as results-schema rows (``device``: the emulated core; ``instructions``).

The tile set: each held-out photo at each noise level, the centre crop of one artifact tile, plus the first crop
again standing for the tiler's case (one model call, not a whole photo's: every call is slow under emulation)."""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from invdn_mobile.bench.harness import cpu_model, results_document
from invdn_mobile.errors import InvdnError, first_line
from invdn_mobile.export.manifest import entry_for, read_manifest, sha256, weights_for_entry
from invdn_mobile.export.photos import sample_photos
from invdn_mobile.export.registry import get_format
from invdn_mobile.gates import FP16_COMPUTE_GATE, GATES
from invdn_mobile.model import Denoiser
from invdn_mobile.model.checkpoint import load_weights
from invdn_mobile.parity import ParityRow, measure, parity_set, unverified_row
from invdn_mobile.runtimes import arm64, load_runner

# the x86 rows' names for the same engines
BACKENDS = {"tflite": "litert-xnnpack", "onnx": "onnxruntime-cpu", "executorch": "executorch-xnnpack"}
GPU = "swiftshader-vulkan"  # the `core` of a run on LiteRT's GPU accelerator over SwiftShader (x86, not emulated)


@dataclass
class ArmRun:
    path: Path
    entry: dict
    core: str
    fp16: bool
    row: ParityRow
    x86_diff: float | None = None
    instructions: list[int] = field(default_factory=list)
    seconds: float = 0.0
    calls: int = 0  # model calls made (one per tile)

    @property
    def target(self) -> str:
        return self.path.parent.name

    @property
    def backend(self) -> str:
        if self.core == GPU:
            return "litert-gpu"
        return BACKENDS[self.entry["format"]] + ("-fp16" if self.fp16 else "")

    @property
    def device(self) -> str:
        return f"{self.core} (x86)" if self.core == GPU else f"{self.core} (qemu)"

    @property
    def steady(self) -> int | None:
        """Instructions of one model call after the first (median)."""
        later = self.instructions[1:] or self.instructions
        return int(statistics.median(later)) if later else None


class _Recorder:
    """Passes calls to a runner and keeps each (input, output) pair."""

    def __init__(self, runner) -> None:
        self.runner, self.pairs = runner, []
        self.evaluator = runner.evaluator
        self.clips_output = getattr(runner, "clips_output", False)

    def run(self, batch: np.ndarray) -> np.ndarray:
        out = self.runner.run(batch)
        self.pairs.append((batch.copy(), np.asarray(out).copy()))
        return out


def artifacts(paths: list[Path]) -> list[tuple[Path, dict]]:
    """(artifact, manifest entry) for artifact files, export folders and folders of export folders."""
    found = []
    for p in paths:
        p = Path(p)
        if p.is_file():
            found.append((p, entry_for(p)))
            continue
        folders = [p] if (p / "manifest.json").is_file() else sorted(f.parent for f in p.glob("*/manifest.json"))
        if not folders:
            raise InvdnError(f"{p}: no such artifact, export folder or folder of them")
        found += [(f / e["file"], e) for f in folders for e in read_manifest(f)]
    for path, _ in found:
        if not path.exists():
            raise InvdnError(f"{path}: listed in its manifest but missing (rejected by its gate?)")
    return found


_SETS: dict[tuple, object] = {}


def tile_set(entry: dict, images: Path | None, noises: tuple[str, ...], weights: Path | None = None):
    """The fixed tiles and PyTorch FP32 outputs for an artifact's weights, tile and z (made once per those)."""
    wpath = weights_for_entry(entry, weights)
    tile, z = entry["tile"][0], entry["z"]
    folder = sample_photos("heldout", images)
    key = (sha256(wpath), tile, z["seed"], z["scale"], str(folder), noises)
    if key not in _SETS:
        model, _ = load_weights(wpath)
        denoiser = Denoiser(model, tile=(tile, tile), seed=z["seed"], z_scale=z["scale"]).eval()
        _SETS[key] = parity_set(denoiser, folder, noises, tile, whole=False)
    return _SETS[key]


def first_tiles(pset, n: int):
    """The tile set cut to its first ``n`` tiles (0: all of it)."""
    if n <= 0 or n >= len(pset.cases):
        return pset
    return replace(pset, cases=pset.cases[:n], reference=pset.reference[:n])


def run_artifact(path: Path, entry: dict, core: str, pset, fp16: bool = False, count: bool = True) -> ArmRun:
    """Execute one artifact on one emulated core (or, ``core`` :data:`GPU`, on LiteRT's GPU accelerator over
    SwiftShader) on the tile set and judge it; compare with the x86 runtime."""
    started = time.perf_counter()
    gate = FP16_COMPUTE_GATE if fp16 else GATES[entry["precision"]]
    try:
        if core == GPU:
            runner, session = arm64.load_gpu(path, entry)
        else:
            runner, session = arm64.load(path, entry, core, count=count, fp16=fp16)
    except InvdnError as exc:  # nothing here can run it
        row = unverified_row(path.name, entry["format"], entry["precision"], f"not executed: {exc}")
        return ArmRun(path, entry, core, fp16, row, seconds=time.perf_counter() - started)
    except arm64.GuestError as exc:  # its runtime refuses the file: a verdict
        row = unverified_row(path.name, entry["format"], entry["precision"], "")
        row.status, row.failures = "fail", (f"cannot load it: {first_line(exc)}",)
        return ArmRun(path, entry, core, fp16, row, seconds=time.perf_counter() - started)
    recorder = _Recorder(runner)
    row = measure(path.name, entry["format"], entry["precision"], recorder, pset, gate)
    result = ArmRun(path, entry, core, fp16, row)
    try:
        result.instructions = session.close()
    except arm64.GuestError as exc:
        row.status, row.failures = "fail", (*row.failures, first_line(exc))
    result.calls = len(recorder.pairs)
    if recorder.pairs:
        x86 = load_runner(get_format(entry["format"]).runtime, path, entry, threads=1)
        result.x86_diff = max(float(np.abs(x86.run(b) - o).max()) for b, o in recorder.pairs)
    result.seconds = time.perf_counter() - started
    return result


def fp16_candidate(entry: dict) -> bool:
    """FP16 TFLite files: the ones a phone's CPU may run in FP16 arithmetic (XNNPACK forced to FP16)."""
    return entry["format"] == "tflite" and entry["precision"] == "fp16"


def gpu_candidate(entry: dict) -> bool:
    """TFLite files whose manifest offers LiteRT's GPU accelerator (``accelerators``, written by the export); a
    manifest without that list: the float files."""
    if entry["format"] != "tflite":
        return False
    if "accelerators" in entry:
        return "gpu" in entry["accelerators"]
    return entry["precision"] in ("fp32", "fp16")


# --- rows, table ---------------------------------------------------------------------------------------------------


def _num(v: float | None, digits: int = 8) -> float | None:
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else round(float(v), digits)


def result_row(r: ArmRun) -> dict:
    """A results-schema row: where it ran (``device``: the emulated core), its ARM instructions and its gate."""
    tile = r.entry["tile"][0]
    executed = r.row.status != "unverified"
    row = {
        "backend": r.backend,
        "format": r.entry["format"],
        "precision": r.entry["precision"],
        "variant": r.entry.get("variant"),
        "artifact": r.path.name,
        "target": r.target,
        "device": r.device,
        "size": f"{tile}x{tile}",
        "height": tile,
        "width": tile,
        "tiles": 1,
        "tile": tile,
        "status": "ok" if executed and r.row.finite else "failed",
        "median_ms": None,
        "p90_ms": None,
        "threads": 1,
        "speedup_vs_torch_eager": None,
        "macs": (r.entry.get("macs") or {}).get("torch_denoiser"),
        "bytes": r.entry.get("bytes"),
        "instructions": r.steady,
        "instructions_first": r.instructions[0] if r.instructions else None,
        "calls": r.calls or None,
        "max_abs_err": _num(r.row.max_abs_err),
        "psnr_vs_reference": _num(r.row.psnr_vs_torch_worst, 4),
        "parity_drop_db": _num(r.row.drop_db, 4),
        "max_abs_diff_x86": _num(r.x86_diff),
        "parity_status": r.row.status,
    }
    if row["status"] != "ok" or r.row.status != "pass":
        row["error"] = "; ".join(r.row.failures)[:500] or "not finite"
    return {k: v for k, v in row.items() if v is not None or k in REQUIRED}


REQUIRED = ("median_ms", "p90_ms", "speedup_vs_torch_eager", "macs", "bytes")


def document(runs: list[ArmRun], machine: str) -> dict:
    from importlib.metadata import version

    facts = {
        "name": machine,
        "kind": "emulator",
        "cpu": "; ".join(f"{c.name}: {c.description}" for c in arm64.CORES.values())
        + f"; emulated by qemu-aarch64 (TCG, user mode) on {cpu_model()}",
        "gpu": "litert-gpu rows: LiteRT's WebGPU accelerator on Chromium's SwiftShader Vulkan (on the x86 CPU)",
        "cores": 1,
        "os": "Debian 12 arm64 (user-mode emulation)",
        "libraries": arm64.guest_versions() | {"host numpy": version("numpy")},
    }
    return results_document([result_row(r) for r in runs], facts, source="invdn-target")


def merge_rows(earlier: list[dict], rows: list[dict]) -> list[dict]:
    """``earlier`` rows (of a results file being extended) that ``rows`` do not replace (same target, artifact,
    runtime and core; a file re-exported and rejected by its export gate, ``*.rejected``, replaces its earlier
    rows), then ``rows``."""

    def key(r: dict) -> tuple:
        return r.get("target"), (r.get("artifact") or "").removesuffix(".rejected"), r["backend"], r.get("device")

    new = {key(r) for r in rows}
    return [r for r in earlier if key(r) not in new] + rows


# --- where the instructions go ---------------------------------------------------------------------------------------

# kinds of work, matched in order on the function names of the profiled call (XNNPACK's micro-kernels are named by
# operation: xnn_<type>_<op>_ukernel_..., and LiteRT's reference kernels by op)
KINDS = (
    ("convolution (GEMM micro-kernels)", ("gemm", "conv", "ppmm")),
    ("quantize / dequantize / requantize", ("vcvt", "quantiz", "requant")),
    ("leaky ReLU", ("lrelu", "leaky")),
    ("sigmoid", ("sigmoid", "logistic")),
    ("exp", ("vexp", "exp_")),
    ("elementwise add / sub / mul", ("vadd", "vsub", "vmul", "vbinary", "vopc", "vop_", "add", "mul", "sub")),
    ("copies, transposes, packing, concatenation", ("copy", "transpose", "memcpy", "memmove", "pack", "concat")),
)


def kind_of(function: str) -> str:
    lib, _, name = function.partition(": ")
    if not lib.startswith(("libpywrap_litert", "libLiteRt", "libonnxruntime", "onnxruntime_pybind")):
        return "Python, libc and other runtime code"
    low = name.lower()
    return next((k for k, keys in KINDS if any(key in low for key in keys)), "other runtime code")


def profile_artifact(path: Path, entry: dict, core: str, pset) -> dict[str, int]:
    """Instructions of one steady call (the second of two on the first tile), per function."""
    runner, session = arm64.load(path, entry, core, profile=1)
    batch = pset.cases[0].noisy.transpose(2, 0, 1)[None].astype(np.float32)
    for _ in range(2):
        runner.run(batch)
    session.close()
    return session.functions


def _short(function: str) -> str:
    """``library: name`` without a C++ function's parameter list and return type."""
    lib, _, name = function.partition(": ")
    name = name.split("(", 1)[0].split(" ")[-1] if "(" in name else name
    return f"{lib}: {name}"


def profile_markdown(name: str, core: str, functions: dict[str, int], top: int = 12) -> str:
    total = sum(functions.values()) or 1
    kinds: dict[str, int] = {}
    for f, n in functions.items():
        kinds[kind_of(f)] = kinds.get(kind_of(f), 0) + n
    lines = [
        f"### {name} on {core}: {total:.3e} instructions in one call",
        "",
        "| kind of work | share |",
        "|---|---|",
        *[f"| {k} | {n / total:.1%} |" for k, n in sorted(kinds.items(), key=lambda kv: -kv[1])],
        "",
        "| function | share |",
        "|---|---|",
        *[f"| `{_short(f)}` | {n / total:.1%} |" for f, n in list(functions.items())[:top]],
        "",
    ]
    return "\n".join(lines)


PROFILE_HEAD = (
    "# Where the ARM instructions of one call go\n\n"
    "Generated by `invdn target arm64 --profile FILE` (docs/targets.md): the second call on the first tile, on the "
    "emulated core, its executed instructions attributed to the functions of the aarch64 libraries (a QEMU plugin "
    "counts per translated block; the libraries' symbol tables name the addresses) and grouped by kind of work.\n\n"
)


def read_sections(path: Path) -> dict[str, str]:
    """The ``### name on core: ...`` sections of a profile file written by :func:`profile_markdown`, by
    ``name on core``."""
    if not Path(path).is_file():
        return {}
    out = {}
    for block in Path(path).read_text().split("### ")[1:]:
        out[block.split(":", 1)[0]] = "### " + block
    return out
