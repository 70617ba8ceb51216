"""The phone's own aarch64 kernels under user-mode QEMU (invdn_mobile.runtimes.arm64): one small file on the emulated
Cortex-A76 against this machine's x86 LiteRT, the instruction count, and XNNPACK's forced FP16. The arm64 root comes
from scripts/arm64_root.sh (.ci/run builds it; a missing root skips locally and fails in CI)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch
from conftest import ROOT, TINY, require_part

from invdn_mobile.model import Denoiser, InvDN
from invdn_mobile.runtimes import arm64

TILE = 16
ENTRY = {"format": "tflite", "z": {"as_input": False}}


@pytest.fixture(scope="module")
def tiny_tflite(tmp_path_factory):
    pytest.importorskip("litert_torch")
    from invdn_mobile.export import tflite

    torch.manual_seed(0)
    denoiser = Denoiser(InvDN(TINY), tile=(TILE, TILE)).eval()
    path = tmp_path_factory.mktemp("arm64") / "tiny.tflite"
    path.write_bytes(tflite.to_fp32(denoiser, TILE))
    return path


@pytest.fixture(scope="module")
def tiles():
    rng = np.random.default_rng(0)
    return [rng.random((1, 3, TILE, TILE), dtype=np.float32) for _ in range(3)]


def _emulated(path, tiles, **options):
    runner, session = arm64.load(path, ENTRY, "cortex-a76", **options)
    outs = [runner.run(t) for t in tiles]
    return outs, session.close()


def test_aarch64_litert_matches_x86_and_counts_instructions(tiny_tflite, tiles):
    require_part("arm64", arm64.ready())
    from invdn_mobile.runtimes.litert import LiteRTRunner

    outs, counts = _emulated(tiny_tflite, tiles, count=True)
    x86 = LiteRTRunner(tiny_tflite, threads=1)
    diff = max(float(np.abs(o - x86.run(t)).max()) for o, t in zip(outs, tiles))
    # different kernels (NEON vs AVX), the same FP32 arithmetic: rounding-level differences only
    assert diff <= 1e-5, diff
    assert all(np.isfinite(o).all() for o in outs) and float(np.abs(outs[0] - tiles[0]).max()) > 1e-3
    # one count per call; the first call also packs the weights; later calls execute the same instructions
    assert len(counts) == len(tiles)
    assert counts[0] > counts[1] > 10_000
    assert abs(counts[2] - counts[1]) <= 0.01 * counts[1], counts


def test_forced_fp16_changes_the_arithmetic_on_the_a76(tiny_tflite, tiles):
    """XNNPACK with FORCE_FP16 on a core with FP16 arithmetic: the outputs move by FP16 rounding, not more."""
    require_part("arm64", arm64.ready())
    fp32, _ = _emulated(tiny_tflite, tiles[:1])
    fp16, _ = _emulated(tiny_tflite, tiles[:1], fp16=True)
    diff = float(np.abs(fp16[0] - fp32[0]).max())
    assert 1e-4 < diff < 5e-2, diff


def test_profile_puts_a_calls_instructions_in_the_convolution_kernels(tiny_tflite, tiles):
    """The per-function split of one call adds up to the call's count, and names XNNPACK's aarch64 GEMM kernels."""
    require_part("arm64", arm64.ready())
    from invdn_mobile.bench.arm64 import kind_of

    runner, session = arm64.load(tiny_tflite, ENTRY, "cortex-a76", profile=1)
    for t in tiles[:2]:
        runner.run(t)
    counts = session.close()
    functions = session.functions
    assert sum(functions.values()) == counts[1]
    top = next(iter(functions))
    assert "xnn_f32_igemm" in top and "aarch64" in top, top
    conv = sum(n for f, n in functions.items() if kind_of(f).startswith("convolution"))
    assert conv > 0.5 * counts[1]


def test_litert_gpu_accelerator_on_swiftshader_matches_xnnpack(tiny_tflite, tiles):
    """LiteRT's GPU accelerator (WebGPU over Chromium's SwiftShader Vulkan) takes the whole graph and computes it in
    FP32 here (SwiftShader has no shader-f16): within rounding of x86 XNNPACK."""
    icd = arm64.SWIFTSHADER_ICD
    require_part("gpu-swiftshader", None if icd.is_file() else f"{icd} is missing (apt-get install chromium)")
    from invdn_mobile.runtimes.litert import LiteRTRunner

    runner, session = arm64.load_gpu(tiny_tflite, ENTRY)
    out = runner.run(tiles[0])
    session.close()
    diff = float(np.abs(out - LiteRTRunner(tiny_tflite, threads=1).run(tiles[0])).max())
    assert diff <= 1e-5, diff


def test_the_fake_cpuinfo_names_each_core():
    a76 = arm64.cpuinfo_text(arm64.CORES["cortex-a76"], 2)
    assert a76.count("processor\t:") == 2 and "CPU part\t: 0xd0b" in a76
    assert "asimddp" in a76 and "i8mm" not in a76 and "sve" not in a76
    n2 = arm64.cpuinfo_text(arm64.CORES["neoverse-n2-class"], 1)
    assert "CPU part\t: 0xd49" in n2 and {"i8mm", "sve2", "asimddp"} <= set(n2.split())


def test_target_arm64_refuses_bad_input_in_one_line(tmp_path):
    cmd = [sys.executable, "-m", "invdn_mobile", "target", "arm64"]
    for args, says in (
        ([str(tmp_path / "nothing")], "no such artifact"),
        ([str(tmp_path), "--core", "cortex-a53"], "unknown ARM core"),
    ):
        r = subprocess.run([*cmd, *args], capture_output=True, text=True, cwd=ROOT)
        assert r.returncode == 2 and says in r.stderr and "Traceback" not in r.stderr, r.stderr
        assert len(r.stderr.strip().splitlines()) == 1
