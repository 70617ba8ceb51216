"""The phone's own aarch64 kernels under user-mode QEMU (invdn_mobile.runtimes.arm64): one small file on the emulated
Cortex-A76 against this machine's x86 LiteRT, the instruction count, XNNPACK's forced FP16, and a full-integer ONNX
file on ONNX Runtime's aarch64 kernels. The arm64 root comes from scripts/arm64_root.sh (.ci/run builds it; a missing
root skips locally and fails in CI)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch
from conftest import ROOT, TINY, require_module, require_part, require_weights

from invdn_mobile.model import Denoiser, InvDN
from invdn_mobile.runtimes import arm64

TILE = 16
ENTRY = {"format": "tflite", "z": {"as_input": False}}


@pytest.fixture(scope="module")
def tiny_tflite(tmp_path_factory):
    require_module("litert_torch")
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


@pytest.fixture(scope="module")
def tiny_int8w(tiny_tflite):
    """The tiny FP32 file with int8 weights only (precision int8w: a DEQUANTIZE before each float convolution)."""
    from invdn_mobile.export import tflite

    path = tiny_tflite.with_name("tiny-int8w.tflite")
    path.write_bytes(tflite.quantize(tiny_tflite.read_bytes(), "int8w"))
    assert "DEQUANTIZE" in tflite.inspect(path)["ops"]
    return path


def test_int8_weights_are_dequantized_once_on_the_a76(tiny_tflite, tiny_int8w, tiles):
    """XNNPACK turns the int8 weights into float when it prepares the file: a steady call executes the FP32 file's
    instructions (the same graph, the same float kernels), only the first call more; the output is x86's. Measured
    2026-12-07: steady calls 864,435 against 864,330; first calls 7.37e6 against 5.90e6 (dequantizing in every call
    would add about the difference to each)."""
    require_part("arm64", arm64.ready())
    from invdn_mobile.runtimes.litert import LiteRTRunner

    outs, counts = _emulated(tiny_int8w, tiles, count=True)
    _, fp32_counts = _emulated(tiny_tflite, tiles, count=True)
    x86 = LiteRTRunner(tiny_int8w, threads=1)
    assert max(float(np.abs(o - x86.run(t)).max()) for o, t in zip(outs, tiles)) <= 1e-5
    assert abs(counts[-1] - fp32_counts[-1]) <= 0.01 * fp32_counts[-1], (counts, fp32_counts)
    assert counts[0] > fp32_counts[0], (counts, fp32_counts)


def test_litert_gpu_accelerator_takes_the_int8_weight_file_whole(tiny_int8w, tiles):
    """LiteRT's GPU accelerator on SwiftShader accepts the DEQUANTIZE ops (the guest refuses a graph it does not take
    whole) and computes the file within rounding of x86 XNNPACK."""
    icd = arm64.SWIFTSHADER_ICD
    require_part("gpu-swiftshader", None if icd.is_file() else f"{icd} is missing (apt-get install chromium)")
    from invdn_mobile.runtimes.litert import LiteRTRunner

    runner, session = arm64.load_gpu(tiny_int8w, ENTRY)
    out = runner.run(tiles[0])
    session.close()
    assert float(np.abs(out - LiteRTRunner(tiny_int8w, threads=1).run(tiles[0])).max()) <= 1e-5


def test_aarch64_onnxruntime_runs_a_full_integer_file_on_integer_kernels(tmp_path):
    """The compact model with every op in QDQ INT8 (the onnx-npu-int8 recipe's graph, a 32² tile) on ONNX Runtime's
    aarch64 kernels: near x86 ONNX Runtime but not bit-identical (the integer kernels of the two ISAs round apart and
    the coupling flow carries it; measured 2026-12-07 on these tiles: max 0.059, mean 0.012), within the INT8 gate
    of the FP32 graph, and fewer ARM instructions than that graph (3.05e7 against 7.04e7 per call)."""
    require_part("arm64", arm64.ready())
    require_module("onnxruntime")
    import onnx

    from invdn_mobile.export import onnx as onnx_export
    from invdn_mobile.export.integer import onnx_float_ops
    from invdn_mobile.export.photos import calibration_data
    from invdn_mobile.model.checkpoint import load_weights
    from invdn_mobile.runtimes.onnxrt import OrtRunner

    tile = 32
    model, _ = load_weights(require_weights("compact"))
    feeds = calibration_data(None, tile, 6, None)
    fp32 = onnx_export.to_onnx_fp32(Denoiser(model, tile=(tile, tile)).eval(), tile)
    int8 = onnx_export.to_int8_full(fp32, feeds[:4])
    assert onnx_float_ops(int8) == []
    paths = {"fp32": tmp_path / "fp32.onnx", "int8": tmp_path / "int8.onnx"}
    onnx.save(fp32, str(paths["fp32"]))
    onnx.save(int8, str(paths["int8"]))
    batches = [f["image"] for f in feeds[4:]]
    outs, counts = {}, {}
    for name, path in paths.items():
        runner, session = arm64.load(path, {"format": "onnx", "z": {"as_input": False}}, "cortex-a76", count=True)
        outs[name] = [runner.run(b) for b in batches]
        counts[name] = session.close()
    x86 = OrtRunner(paths["int8"], threads=1)
    diffs = [np.abs(o - x86.run(b)) for o, b in zip(outs["int8"], batches)]
    assert max(float(d.max()) for d in diffs) <= 0.1 and max(float(d.mean()) for d in diffs) <= 0.02, diffs
    err = max(float(np.abs(i - np.clip(f, 0, 1)).max()) for i, f in zip(outs["int8"], outs["fp32"]))
    assert 1e-3 < err < 0.25, err  # quantized (not the float graph), and still the denoiser
    assert counts["int8"][-1] < 0.6 * counts["fp32"][-1], counts


def test_the_fake_cpuinfo_names_each_core():
    a76 = arm64.cpuinfo_text(arm64.CORES["cortex-a76"], 2)
    assert a76.count("processor\t:") == 2 and "CPU part\t: 0xd0b" in a76
    assert "asimddp" in a76 and "i8mm" not in a76 and "sve" not in a76
    n2 = arm64.cpuinfo_text(arm64.CORES["neoverse-n2-class"], 1)
    assert "CPU part\t: 0xd49" in n2 and {"i8mm", "sve2", "asimddp"} <= set(n2.split())


def test_gpu_rows_follow_the_recipes_accelerators():
    """`invdn target arm64` adds a LiteRT GPU row where the export's manifest offers the GPU: the float files and the
    int8-weight file (a DEQUANTIZE before float convolutions), not the dynamic-range file (no GPU kernel)."""
    from invdn_mobile.bench.arm64 import gpu_candidate
    from invdn_mobile.export.targets import get_target

    def entry(name):
        t = get_target(name)
        return {"format": t.format, "precision": t.precision, "accelerators": list(t.accelerators)}

    wanted = {"android-cpu-fp32": True, "android-gpu-fp16": True, "android-int8w": True, "android-cpu-int8dyn": False}
    assert {name: gpu_candidate(entry(name)) for name in wanted} == wanted
    # an older manifest without the list: the float files only
    assert gpu_candidate({"format": "tflite", "precision": "fp32"})
    assert not gpu_candidate({"format": "tflite", "precision": "int8w"})
    assert not gpu_candidate({"format": "onnx", "precision": "fp32", "accelerators": ["gpu"]})


def test_target_arm64_refuses_bad_input_in_one_line(tmp_path):
    cmd = [sys.executable, "-m", "invdn_mobile", "target", "arm64"]
    for args, says in (
        ([str(tmp_path / "nothing")], "no such artifact"),
        ([str(tmp_path), "--core", "cortex-a53"], "unknown ARM core"),
    ):
        r = subprocess.run([*cmd, *args], capture_output=True, text=True, cwd=ROOT)
        assert r.returncode == 2 and says in r.stderr and "Traceback" not in r.stderr, r.stderr
        assert len(r.stderr.strip().splitlines()) == 1
