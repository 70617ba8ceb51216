"""The phone's own CPU kernels, run here: the aarch64 builds of LiteRT (XNNPACK) and ONNX Runtime inside an arm64
Debian root under user-mode ``qemu-aarch64``, emulating one chosen ARM core, with an optional count of the ARM
instructions each model call executes (a QEMU TCG plugin; deterministic, unlike emulated time).

The root is made once by ``scripts/arm64_root.sh`` (cached outside the work tree). Each emulated core gets a small
folder that mirrors the root with links plus its own ``/proc/cpuinfo``: user-mode QEMU shows the guest the host's x86
``/proc/cpuinfo``, on which XNNPACK's CPU detection crashes; with ``-L`` QEMU looks a guest path up in that folder
first, so the guest reads an ARM one, which must describe the same core as ``-cpu`` (a file that claims the dot
product on a core without it dies at the first ``sdot``).

:func:`load` returns the project's own runners (:class:`~invdn_mobile.runtimes.litert.LiteRTRunner`,
:class:`~invdn_mobile.runtimes.onnxrt.OrtRunner`) driving the guest instead of an x86 session, so integer I/O, z
inputs and layouts are handled exactly as on x86."""

from __future__ import annotations

import bisect
import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from invdn_mobile.errors import InvdnError
from invdn_mobile.runtimes import manifest_z
from invdn_mobile.runtimes.arm64_guest import receive, send
from invdn_mobile.runtimes.litert import LiteRTRunner
from invdn_mobile.runtimes.onnxrt import OrtRunner

CACHE = Path(os.environ.get("INVDN_ARM64_ROOT", "/var/cache/invdn/arm64-root")).parent
ROOT = Path(os.environ.get("INVDN_ARM64_ROOT", CACHE / "arm64-root"))
PLUGIN = ROOT.parent / "qemu-icount.so"  # built by scripts/arm64_root.sh from scripts/qemu_icount.c
QEMU = "qemu-aarch64"  # the dynamic build: the static one refuses plugins
GUEST = Path(__file__).with_name("arm64_guest.py")
SETUP = "scripts/arm64_root.sh"
# XNNPACK delegate flags (tensorflow/lite/delegates/xnnpack/xnnpack_delegate.h): signed and unsigned 8-bit quantized
# operators (the defaults) plus FORCE_FP16, which runs FP32 operators in FP16 arithmetic where the CPU has it
XNNPACK_QS8, XNNPACK_QU8, XNNPACK_FORCE_FP16 = 0x1, 0x2, 0x4

# Why no .pte runs on the emulated cores (measured 2026-12-07; docs/targets.md, "ExecuTorch"): the one aarch64 runtime
# ExecuTorch ships for Python needs libtorch, and PyPI's aarch64 torch is a CUDA build
EXECUTORCH_MISSING = (
    "no aarch64 ExecuTorch runtime: the executorch 1.5.1 aarch64 wheel runs a .pte only through its Python binding, "
    "which links libtorch, and PyPI's aarch64 torch 2.13.0 is a CUDA build (the binding under qemu-aarch64: "
    "'libtorch_cuda.so: cannot open shared object file'; docs/targets.md)"
)

_COMMON = "fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm"


@dataclass(frozen=True)
class Core:
    name: str  # row label (results `device`)
    qemu_cpu: str  # qemu-aarch64 -cpu
    part: str  # MIDR part number the fake /proc/cpuinfo reports (implementer 0x41, Arm)
    variant: str
    features: str
    description: str


CORES = {
    c.name: c
    for c in (
        Core(
            "cortex-a76",
            "cortex-a76",
            "0xd0b",
            "0x4",
            f"{_COMMON} lrcpc dcpop asimddp ssbs",
            "Armv8.2 with FP16 arithmetic and the int8 dot product (sdot), no i8mm/SVE: a 2018-2022 phone big core",
        ),
        Core(
            "neoverse-n2-class",
            # no SME (an N2 / A710 has none; with it XNNPACK takes KleidiAI's SME kernels, and on QEMU 7.2 the
            # full-integer file came out 0.8 off); QEMU's exact pointer-authentication cipher is slow to emulate
            "max,sme=off,pauth-impdef=on",
            "0xd49",
            "0x0",
            f"{_COMMON} jscvt fcma lrcpc dcpop sha3 sm3 sm4 asimddp sha512 sve asimdfhm dit uscat ilrcpc flagm ssbs sb "
            "dcpodp sve2 sveaes svepmull svebitperm svesha3 svesm4 flagm2 frint svei8mm svebf16 i8mm bf16 dgh",
            "QEMU's `max` core without SME (Armv9 features incl. SVE2 and the int8 matrix multiply i8mm), reported "
            "as a Neoverse N2 (Armv9, like a Cortex-A710 / X2 phone core)",
        ),
    )
}


def cpuinfo_text(core: Core, cpus: int) -> str:
    """An aarch64 ``/proc/cpuinfo`` describing ``cpus`` copies of ``core``."""
    block = (
        "processor\t: {i}\nBogoMIPS\t: 50.00\nFeatures\t: {f}\nCPU implementer\t: 0x41\nCPU architecture: 8\n"
        "CPU variant\t: {v}\nCPU part\t: {p}\nCPU revision\t: 0\n\n"
    )
    return "".join(block.format(i=i, f=core.features, v=core.variant, p=core.part) for i in range(cpus))


def ready() -> str | None:
    """None when the arm64 root, its wheels, the plugin and QEMU are here; else what is missing (one line)."""
    if not shutil.which(QEMU):
        return f"{QEMU} not found (Debian package qemu-user; run {SETUP})"
    if not list(ROOT.glob(".invdn-ready-*")):
        return f"no arm64 root at {ROOT} (run {SETUP}, ~15 min once)"
    if not PLUGIN.is_file():
        return f"no instruction-count plugin at {PLUGIN} (run {SETUP})"
    return None


def guest_versions() -> dict[str, str]:
    """Versions of QEMU and of the aarch64 wheels in the root."""
    out = {}
    qemu = subprocess.run([QEMU, "--version"], capture_output=True, text=True).stdout.split("\n")[0]
    out["qemu-aarch64"] = qemu.removeprefix("qemu-aarch64 version ")
    for info in sorted((ROOT / "opt/invdn-py").glob("*.dist-info")):
        name, _, ver = info.name.removesuffix(".dist-info").partition("-")
        name = name.lower().replace("_", "-")
        if name in ("ai-edge-litert", "onnxruntime", "numpy"):
            out[f"aarch64 {name}"] = ver
    return out


def core_root(core: Core) -> Path:
    """The ``-L`` folder of one core: links to the root's top-level entries and the core's own ``proc/cpuinfo``."""
    problem = ready()
    if problem:
        raise InvdnError(problem)
    folder = CACHE / f"arm64-{core.name}"
    (folder / "proc").mkdir(parents=True, exist_ok=True)
    for entry in ROOT.iterdir():
        link = folder / entry.name
        if entry.name != "proc" and not link.is_symlink():
            link.symlink_to(entry)
    text = cpuinfo_text(core, os.cpu_count() or 1)
    cpuinfo = folder / "proc" / "cpuinfo"
    if not cpuinfo.is_file() or cpuinfo.read_text() != text:
        tmp = cpuinfo.with_suffix(".tmp")
        tmp.write_text(text)
        os.replace(tmp, cpuinfo)
    return folder


def get_core(name: str) -> Core:
    try:
        return CORES[name]
    except KeyError:
        raise InvdnError(f"unknown ARM core {name!r}; choose one of: {', '.join(CORES)}") from None


class GuestError(RuntimeError):
    """The child runtime failed to load the model or stopped (a verdict on the artifact, not a missing tool)."""


class GuestSession:
    """One model served by ``arm64_guest.py`` in a child process: under ``qemu-aarch64`` on an emulated ``core``, or
    (``core`` None) with this machine's own Python and extra ``env`` (the LiteRT GPU accelerator on a software
    Vulkan). It speaks both the LiteRT signature-runner and the ONNX Runtime session interface the project's runners
    use. With ``count``, the plugin records the instructions of every model call (:attr:`instructions` after
    :meth:`close`)."""

    def __init__(
        self,
        kind: str,
        model: Path,
        core: Core | None,
        count: bool = False,
        guest_args: tuple = (),
        env=None,
        profile: int | None = None,
    ) -> None:
        self.work = Path(tempfile.mkdtemp(prefix="invdn-arm64-"))
        self.counts = self.work / "counts.txt"
        self.log = self.work / "stderr.txt"
        self.maps = self.work / "maps.txt"
        self.core = core
        if profile is not None:
            count, guest_args = True, (*guest_args, "--maps", str(self.maps))
        program = [str(GUEST), kind, str(Path(model).resolve()), *guest_args]
        if core is None:
            cmd = [sys.executable, "-u", *program]
            env = os.environ | {"PYTHONDONTWRITEBYTECODE": "1"} | (env or {})
        else:
            cmd = [QEMU, "-cpu", core.qemu_cpu, "-L", str(core_root(core))]
            if count:
                cmd += ["-plugin", f"{PLUGIN},out={self.counts}" + ("" if profile is None else f",profile={profile}")]
            cmd += [str(ROOT / "usr/bin/python3"), "-u", *program]
            env = {
                "PATH": "/usr/bin:/bin",
                "PYTHONPATH": "/opt/invdn-py",
                "PYTHONDONTWRITEBYTECODE": "1",
                "HOME": str(self.work),
                "OMP_NUM_THREADS": "1",
                "OPENBLAS_NUM_THREADS": "1",
                "TF_CPP_MIN_LOG_LEVEL": "2",
            }
        self.instructions: list[int] = []
        self.dead = ""  # why the child stopped, once it has
        self.functions: dict[str, int] = {}  # with ``profile``: instructions of the profiled call per function
        self.proc = subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log.open("wb"), env=env
        )
        line = self.proc.stdout.readline()
        if not line:
            self._died("could not load the model")
        meta = json.loads(line)
        self.inputs, self.outputs = meta["inputs"], meta["outputs"]

    def _died(self, what: str):
        self.proc.wait()
        text = self.log.read_text(errors="replace") if self.log.is_file() else ""
        lines = [s for s in text.splitlines() if s.strip()]
        last = lines[-1].strip() if lines else f"exit status {self.proc.returncode}"
        shutil.rmtree(self.work, ignore_errors=True)
        self.dead = f"{what}: {last}"
        raise GuestError(f"the runtime {self.dead}")

    def call(self, feed: dict[str, np.ndarray]) -> list[np.ndarray]:
        try:
            for t in self.inputs:
                send(self.proc.stdin, np.asarray(feed[t["name"]], dtype=t["dtype"]))
            self.proc.stdin.flush()
            return [receive(self.proc.stdout) for _ in self.outputs]
        except (BrokenPipeError, ValueError, EOFError):
            self._died("stopped during a model call")

    # LiteRT signature-runner interface (LiteRTRunner)
    def _details(self, tensors: list[dict]) -> dict:
        return {
            t["name"]: {"dtype": np.dtype(t["dtype"]).type, "quantization": tuple(t["quantization"])} for t in tensors
        }

    def get_input_details(self) -> dict:
        return self._details(self.inputs)

    def get_output_details(self) -> dict:
        return self._details(self.outputs)

    def __call__(self, **feed) -> dict:
        return dict(zip([t["name"] for t in self.outputs], self.call(feed)))

    # ONNX Runtime session interface (OrtRunner)
    def get_inputs(self) -> list:
        return [SimpleNamespace(name=t["name"]) for t in self.inputs]

    def get_providers(self) -> list[str]:
        return ["CPUExecutionProvider"]

    def run(self, _names, feed: dict) -> list[np.ndarray]:
        return self.call(feed)

    def close(self) -> list[int]:
        """End the guest; the instructions of each model call (empty without ``count``)."""
        if self.dead:
            raise GuestError(f"the runtime {self.dead}")
        if self.proc.stdin and not self.proc.stdin.closed:
            self.proc.stdin.close()
        self.proc.wait()
        if self.proc.returncode:
            self._died("exited with an error")
        if self.counts.is_file():
            lines = self.counts.read_text().splitlines()
            marks = [int(s) for s in lines if s.isdigit()]
            self.instructions = [b - a for a, b in zip(marks[0::2], marks[1::2])]
            pcs = {int(pc, 16): int(n) for _, pc, n in (s.split() for s in lines if s.startswith("pc "))}
            if pcs and self.maps.is_file():
                self.functions = attribute(pcs, self.maps.read_text(), core_root(self.core))
        shutil.rmtree(self.work, ignore_errors=True)
        return self.instructions


def load(path: Path, entry: dict, core: str = "cortex-a76", count: bool = False, fp16: bool = False, profile=None):
    """``(runner, session)``: the project's runner for the artifact, executing on the emulated ``core``; ``fp16``
    (TFLite only): XNNPACK forced to FP16 inference (the CompiledModel API's CPU option ``xnnpack_flags`` with
    FORCE_FP16); ``profile``: the call whose instructions are split by function (``session.functions``). Close the
    session when done (it holds the instruction counts)."""
    c = get_core(core)
    z = manifest_z(entry) if entry["z"]["as_input"] else None
    if entry["format"] == "tflite":
        if fp16:
            flags = XNNPACK_QS8 | XNNPACK_QU8 | XNNPACK_FORCE_FP16
            session = GuestSession("litert-compiled", path, c, count, ("--xnnpack-flags", str(flags)), profile=profile)
        else:
            session = GuestSession("litert", path, c, count, profile=profile)
        runner = LiteRTRunner(path, z, signature=session)
        runner.evaluator = f"litert-xnnpack-aarch64{'-fp16' if fp16 else ''} ({c.name}, qemu)"
    elif entry["format"] == "onnx" and not fp16:
        session = GuestSession("onnxruntime", path, c, count, profile=profile)
        runner = OrtRunner(path, z, session=session)
        runner.evaluator = f"onnxruntime-cpu-aarch64 ({c.name}, qemu)"
    elif entry["format"] == "executorch":
        raise InvdnError(EXECUTORCH_MISSING)
    else:
        raise InvdnError(f"{path}: no aarch64 runtime here for {entry['format']}{' with forced FP16' if fp16 else ''}")
    return runner, session


# Chromium's own SwiftShader (a Vulkan on the CPU): Dawn, under LiteRT's WebGPU accelerator, takes it; Debian's
# lavapipe it refuses ("Vulkan shaderUniform*ArrayDynamicIndexing required": no adapter)
SWIFTSHADER_ICD = Path("/usr/lib/chromium/vk_swiftshader_icd.json")


def load_gpu(path: Path, entry: dict):
    """``(runner, session)``: a TFLite artifact on LiteRT's GPU accelerator (its WebGPU build, the one in the x86
    wheel) over SwiftShader's Vulkan, in a child process of this machine's Python; the whole graph must go to the
    GPU."""
    if entry["format"] != "tflite":
        raise InvdnError(f"{path}: the LiteRT GPU accelerator runs TFLite files")
    if not SWIFTSHADER_ICD.is_file():
        raise InvdnError(f"{SWIFTSHADER_ICD} is missing (Debian package chromium)")
    env = {"VK_ICD_FILENAMES": str(SWIFTSHADER_ICD), "XDG_RUNTIME_DIR": tempfile.gettempdir()}
    session = GuestSession("litert-compiled", path, None, guest_args=("--gpu",), env=env)
    z = manifest_z(entry) if entry["z"]["as_input"] else None
    runner = LiteRTRunner(path, z, signature=session)
    runner.evaluator = "litert-gpu-webgpu (swiftshader vulkan, x86)"
    return runner, session


# --- where the instructions go: the profiled call's blocks, mapped to the functions of the guest's libraries ---------


def _segments(lib: Path) -> list[tuple[int, int, int]]:
    """(file offset, size in file, address) of each LOAD segment of an ELF file (``readelf -lW``)."""
    text = subprocess.run(["readelf", "-lW", str(lib)], capture_output=True, text=True).stdout
    out = []
    for line in text.splitlines():
        parts = line.split()
        if parts and parts[0] == "LOAD":
            out.append((int(parts[1], 16), int(parts[4], 16), int(parts[2], 16)))
    return out


def _symbols(lib: Path) -> tuple[list[int], list[str]]:
    """Sorted start addresses and names of the functions of an ELF file (``nm``; its symbol table when it has one)."""
    text = subprocess.run(["nm", "--defined-only", "-C", str(lib)], capture_output=True, text=True).stdout
    found = []
    for line in text.splitlines():
        addr, _, rest = line.partition(" ")
        kind, _, name = rest.partition(" ")
        if kind in ("t", "T", "W", "i") and addr.strip():
            found.append((int(addr, 16), name))
    found.sort()
    return [a for a, _ in found], [n for _, n in found]


def attribute(pcs: dict[int, int], maps: str, root: Path) -> dict[str, int]:
    """Instructions per function (``library: function``) from per-block counts and the guest's memory map."""
    regions = []
    for line in maps.splitlines():
        parts = line.split(maxsplit=5)
        if len(parts) == 6 and parts[5].startswith("/"):
            start, end = (int(x, 16) for x in parts[0].split("-"))
            regions.append((start, end, int(parts[2], 16), parts[5].strip()))
    regions.sort()
    starts = [r[0] for r in regions]
    libs: dict[str, tuple] = {}
    out: dict[str, int] = {}
    for pc, n in pcs.items():
        i = bisect.bisect_right(starts, pc) - 1
        if i < 0 or pc >= regions[i][1]:
            out["(no file: generated code)"] = out.get("(no file: generated code)", 0) + n
            continue
        start, _, offset, name = regions[i]
        if name not in libs:
            host = root / name.lstrip("/")
            lib = host if host.is_file() else Path(name)
            libs[name] = (_segments(lib), *_symbols(lib)) if lib.is_file() else ([], [], [])
        segments, addrs, names = libs[name]
        file_off = pc - start + offset
        addr = next((file_off - o + a for o, size, a in segments if o <= file_off < o + size), file_off)
        j = bisect.bisect_right(addrs, addr) - 1
        label = f"{Path(name).name}: {names[j] if j >= 0 else '?'}"
        out[label] = out.get(label, 0) + n
    return dict(sorted(out.items(), key=lambda kv: -kv[1]))
