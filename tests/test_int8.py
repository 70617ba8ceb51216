"""Full-integer INT8 (docs/int8.md): the op-level check on real converted files (it passes a full-integer file and
fails today's partial-INT8 one), the graph surgery that folds float islands into int8 ops, int8 I/O, and the
PyTorch fake-quant model of the converters."""

import numpy as np
import pytest
import torch
from conftest import require_module, require_weights

from invdn_mobile.export.photos import calibration_data
from invdn_mobile.export.registry import ExportOptions
from invdn_mobile.gates import GATES
from invdn_mobile.model import Denoiser
from invdn_mobile.model.checkpoint import load_weights
from invdn_mobile.runtimes.litert import ops_details

TILE = 32
CROPS = 4


@pytest.fixture(scope="module")
def compact():
    model, _ = load_weights(require_weights("compact"))
    return model


@pytest.fixture(scope="module")
def calib():
    return calibration_data(None, TILE, CROPS, None)


@pytest.fixture(scope="module")
def batch(calib):
    return np.concatenate([feed["image"] for feed in calib])


@pytest.fixture(scope="module")
def tflite_files(compact, calib):
    require_module("ai_edge_quantizer")
    from invdn_mobile.export import tflite

    fp32 = tflite.to_fp32(Denoiser(compact, tile=(TILE, TILE)).eval(), TILE)
    return {
        "fp32": fp32,
        "full": tflite.quantize_full(fp32, calib),
        "full_io": tflite.quantize_full(fp32, calib, integer_io=True),
        "partial": tflite.quantize(fp32, "int8", calib, ("ResidualBlock_G",)),
    }


@pytest.mark.parametrize("split", [False, True])
def test_fake_quant_float_mode_is_the_denoiser(compact, split):
    """In float mode the fake-quant model computes the denoiser exactly, also on a split model (it follows the split
    graph: the conv3 parts and per-group Haar sums, no concatenation); int8 everywhere moves the output by a few 8-bit
    steps, not by a broken graph."""
    import copy

    from invdn_mobile.export.fakequant import QuantSim
    from invdn_mobile.model.split import split_concats

    model = copy.deepcopy(compact)
    if split:
        split_concats(model)
    denoiser = Denoiser(model, tile=(TILE, TILE)).eval()
    sim = QuantSim(denoiser)
    x = torch.rand(2, 3, TILE, TILE, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ref = denoiser(x)
        assert float((sim(x) - ref).abs().max()) == 0.0
        sim.mode = "observe"
        sim(x)
        sim.calibrate("minmax")
        sim.mode = "quant"
        err = float((sim(x) - ref).abs().max())
    assert 1e-3 < err < 0.5, err
    with torch.no_grad():
        sim.bits, sim.weights = (lambda name: 16), False
        err16 = float((sim(x) - ref).abs().max())
        sim.bits, sim.weights, sim.per_channel = (lambda name: 8), True, True
        err_channels = float((sim(x) - ref).abs().max())
    assert err16 < err / 50  # float weights, 256x finer steps on every activation
    assert err_channels < 0.5
    cats = [n for n in sim.ranges if n.endswith(".cat")]
    if split:
        assert cats == [] and {"s0.b0.F.conv3x", "s0.b0.F.conv3r", "s1.haar1", "s1.r.haar0"} <= set(sim.ranges)
    else:
        assert len(cats) > 40


def test_fake_quant_steps_follow_the_bits_and_the_channel_ranges():
    """A tensor whose channels span [0, 1] and [-4, 4]: per tensor, both share one step of 8 / (2^bits - 1); per
    channel each gets its own, so the small channel's error shrinks by its range ratio (the steps computed here by
    hand, not by the code under test)."""
    from invdn_mobile.export.fakequant import fake_quant, fake_quant_channels

    g = torch.Generator().manual_seed(0)
    x = torch.stack([torch.rand(64, 64, generator=g), 8 * torch.rand(64, 64, generator=g) - 4])[None]
    for bits in (8, 16):
        step = 8.0 / (2**bits - 1)
        err = (fake_quant(x, -4.0, 4.0, bits) - x).abs()
        assert step / 2 * 0.9 < float(err.max()) <= step / 2 * 1.001
        err = (fake_quant_channels(x, np.array([0.0, -4.0]), np.array([1.0, 4.0]), bits) - x).abs()
        assert float(err[:, 0].max()) <= (1.0 / (2**bits - 1)) / 2 * 1.001
        assert step / 2 * 0.9 < float(err[:, 1].max()) <= step / 2 * 1.001


def test_tflite_full_integer_check_passes_full_and_fails_partial(tflite_files):
    from invdn_mobile.export.integer import tflite_float_ops

    assert tflite_float_ops(tflite_files["full"]) == []
    assert tflite_float_ops(tflite_files["full_io"]) == []
    partial = tflite_float_ops(tflite_files["partial"])
    assert partial and any("LEAKY_RELU" in p for p in partial) and any("EXP" in p for p in partial)
    from invdn_mobile.runtimes.litert import interpreter

    names = {o["op_name"] for o in ops_details(interpreter(tflite_files["full"]))}
    assert {"EXP", "LEAKY_RELU", "TRANSPOSE_CONV", "LOGISTIC"} <= names and "DEQUANTIZE" in names


def test_a_full_integer_file_with_a_z_input_is_integer(compact):
    """The -zin twin's float z enters through its own QUANTIZE, as the image does: that is the file's float I/O
    boundary, not a float op (the check once refused `invdn export android-npu-int8`'s twin for it)."""
    from invdn_mobile.export import tflite
    from invdn_mobile.export.integer import tflite_float_ops
    from invdn_mobile.runtimes.litert import interpreter

    require_module("ai_edge_quantizer")
    denoiser = Denoiser(compact, tile=(TILE, TILE), z_input=True).eval()
    calib = calibration_data(None, TILE, CROPS, Denoiser(compact, tile=(TILE, TILE)).z.numpy())
    full = tflite.quantize_full(tflite.to_fp32(denoiser, TILE), calib)
    interp = interpreter(full)
    inputs = {d["index"] for d in interp.get_input_details()}
    ops = ops_details(interp)
    quantize_inputs = [o for o in ops if o["op_name"] == "QUANTIZE" and set(o["inputs"]) <= inputs]
    assert len(inputs) == 2 and len(quantize_inputs) == 2  # the image's and z's
    assert tflite_float_ops(full) == []


def test_tflite_full_integer_runs_close_to_fp32_and_int8_io_matches(tflite_files, batch):
    from invdn_mobile.runtimes.litert import LiteRTRunner, interpreter

    ref = LiteRTRunner(tflite_files["fp32"]).run(batch)
    out = LiteRTRunner(tflite_files["full"]).run(batch)
    out_io = LiteRTRunner(tflite_files["full_io"]).run(batch)
    err = np.abs(out - np.clip(ref, 0, 1))  # measured 2026-12-07: mean 0.006, max 0.034
    assert float(err.mean()) < 0.015 and float(err.max()) < GATES["int8"].max_abs_err / 2
    assert 0.0 <= out.min() and out.max() <= 1.0  # the output's quantization is pinned to [0, 1]
    # int8 I/O: the same computation; the image's 8-bit code is exact (scale 1/255, zero point -128)
    detail = interpreter(tflite_files["full_io"]).get_input_details()[0]
    assert detail["dtype"] == np.int8
    scale, zero = detail["quantization"]
    assert abs(scale - 1 / 255) < 1e-7 and zero == -128
    assert float(np.abs(out_io - out).max()) <= 2 / 255 + 1e-6


def test_folding_is_what_makes_the_tflite_file_integer(compact, calib):
    """Quantized without folding, EXP and LEAKY_RELU compute in float between DEQUANTIZE and QUANTIZE."""
    require_module("ai_edge_quantizer")
    from ai_edge_quantizer import quantizer

    from invdn_mobile.export import tflite
    from invdn_mobile.export.integer import fold_float_islands, tflite_float_ops

    fp32 = tflite.to_fp32(Denoiser(compact, tile=(TILE, TILE)).eval(), TILE)
    q = quantizer.Quantizer(fp32)
    for op in tflite.FULL_INTEGER_OPS:
        q.add_static_config(".*", op, activation_num_bits=8, weight_num_bits=8)
    raw = bytes(q.quantize(q.calibrate({"serving_default": tflite.nhwc_feeds(calib)}, num_threads=1)).quantized_model)
    kinds = {p.split()[2] for p in tflite_float_ops(raw)}
    assert {"EXP", "LEAKY_RELU", "DEQUANTIZE", "QUANTIZE"} <= kinds
    assert tflite_float_ops(fold_float_islands(raw)) == []


def test_onnx_full_integer_check_passes_all_ops_and_fails_conv_only(compact, calib, batch):
    require_module("onnxruntime")
    from invdn_mobile.export import onnx as onnx_backend
    from invdn_mobile.export.integer import onnx_float_ops
    from invdn_mobile.runtimes.onnxrt import OrtRunner

    fp32 = onnx_backend.to_onnx_fp32(Denoiser(compact, tile=(TILE, TILE)).eval(), TILE)
    full = onnx_backend.to_int8_full(fp32, calib)
    assert onnx_float_ops(full) == []
    partial = onnx_float_ops(onnx_backend.to_int8(fp32, calib))  # today's recipe: Conv/ConvTranspose only
    kinds = {p.split()[1] for p in partial}
    assert {"LeakyRelu", "Exp", "Sigmoid", "Mul", "Add"} <= kinds
    ref = OrtRunner(fp32.SerializeToString()).run(batch)
    out = OrtRunner(full.SerializeToString()).run(batch)
    err = np.abs(out - np.clip(ref, 0, 1))  # measured 2026-12-07: mean 0.009, max 0.058
    assert float(err.mean()) < 0.015 and float(err.max()) < GATES["int8"].max_abs_err / 2


def test_cross_layer_equalization_keeps_the_float_output(compact):
    """An exact rescaling: the float output moves by float rounding only, while the ranges really change."""
    import copy

    from invdn_mobile.model.equalize import equalize

    model = copy.deepcopy(compact)
    equalize(model)
    before = compact.scales[0].blocks[0].H.conv1.weight.abs().amax(dim=(1, 2, 3))
    after = model.scales[0].blocks[0].H.conv1.weight.abs().amax(dim=(1, 2, 3))
    assert float((after / before).max()) > 1.5  # channels were rescaled
    x = torch.rand(1, 3, TILE, TILE, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ref = Denoiser(compact, tile=(TILE, TILE))(x)
        out = Denoiser(model, tile=(TILE, TILE))(x)
    assert float((out - ref).abs().max()) <= 1e-5


def test_quantization_aware_finetuning_moves_the_weights_through_the_fake_quant(compact):
    """Two steps on the split, equalized graph at the default learning rate: the history scores the starting weights
    (their float drop is zero: equalization and the split are exact) and the moved ones (finite, and different: the
    weights changed the fake-quant output), and the result is an ordinary unsplit InvDN. A learning rate that
    diverges is an error naming the step, not a NaN score quietly never chosen."""
    import copy

    from invdn_mobile.errors import InvdnError
    from invdn_mobile.export.qat import FLOAT_BUDGET, finetune
    from invdn_mobile.model.coupling import ResidualBlock

    common = dict(minutes=5, crop=16, batch=1, max_steps=2, eval_every=2, calibration_tile=32, calibration_count=2,
                  decision=(2, 32), log=None)  # fmt: skip
    model = copy.deepcopy(compact)
    record = finetune(model, None, lr=2e-5, **common)
    assert record["steps"] == 2 and record["final_loss"] > 0
    (h0, h2) = record["history"]
    assert (h0["step"], h2["step"]) == (0, 2) and abs(h0["float_drop_db"]) < 1e-3
    assert np.isfinite([h2["int8_drop_db"], h2["float_drop_db"]]).all()
    assert h2["int8_drop_db"] != h0["int8_drop_db"] and 0 < abs(h2["float_drop_db"]) < 0.5
    better = h2["int8_drop_db"] < h0["int8_drop_db"] and h2["float_drop_db"] <= FLOAT_BUDGET
    assert record["kept_step"] == (2 if better else 0)
    assert sum(type(m) is ResidualBlock for m in model.modules()) == sum(
        type(m) is ResidualBlock for m in compact.modules()
    )
    with pytest.raises(InvdnError, match="diverged at step 2: its score is nan dB"):
        finetune(copy.deepcopy(compact), None, lr=1e-3, **common)


def test_merging_a_split_model_back_keeps_its_function(compact):
    """Weights trained on the split graph (here: perturbed) merged back into the unsplit model compute what the split
    model computes, so QAT on the split graph saves ordinary weights."""
    import copy

    from invdn_mobile.model.split import merge_split, split_concats

    split = copy.deepcopy(compact)
    split_concats(split)
    with torch.no_grad():
        for p in split.parameters():
            p.add_(1e-3 * torch.randn(p.shape, generator=torch.Generator().manual_seed(p.numel())))
    merged = copy.deepcopy(compact)
    merge_split(split, merged)
    x = torch.rand(2, 3, TILE, TILE, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        ref = Denoiser(split, tile=(TILE, TILE))(x)
        assert float((Denoiser(compact, tile=(TILE, TILE))(x) - ref).abs().max()) > 1e-4  # the perturbation shows
        assert float((Denoiser(merged, tile=(TILE, TILE))(x) - ref).abs().max()) <= 1e-5


def test_npu_recipe_with_int8_io_exports_checks_and_runs_through_the_cli(tmp_path, sample_clean):
    """The recipe end to end: full integer with int8 I/O, the manifest says how to feed it, parity ran it."""
    import json

    from PIL import Image
    from typer.testing import CliRunner

    from invdn_mobile.cli.main import app

    require_module("ai_edge_quantizer")
    photos = tmp_path / "photos"
    photos.mkdir()
    Image.open(sorted(sample_clean.iterdir())[0]).crop((100, 100, 164, 164)).save(photos / "a.png")
    out = tmp_path / "out"
    args = ["export", "android-npu-int8-io", "--tile", str(TILE), "--no-z-variant", "-o", str(out)]
    result = CliRunner().invoke(app, [*args, "--images", str(photos), "--set", "heldout"])
    (entry,) = json.loads((out / "manifest.json").read_text())["artifacts"]
    # the verdict follows the gate's bounds, recomputed here from the recorded numbers, and the exit code follows it
    p, gate = entry["parity"], GATES["int8"]
    meets = p["drop_db"] <= gate.max_drop_db and p["drop_worst_db"] <= gate.max_drop_worst_db
    meets = meets and p["max_abs_err"] <= gate.max_abs_err
    assert entry["gate"]["status"] == ("pass" if meets else "fail"), entry["gate"]
    assert result.exit_code == (0 if meets else 1), result.output
    assert entry["inputs"][0]["dtype"] == "int8" and entry["inputs"][0]["zero_point"] == -128
    assert entry["outputs"][0]["dtype"] == "int8" and "int8 code" in entry["normalization"]
    assert entry["accelerators"] == ["cpu", "gpu", "npu"]  # every op integer and GPU-checked: what the apps offer
    assert "DEQUANTIZE" not in entry["ops"] and entry["ops"]["EXP"] > 0 and entry["ops"]["LEAKY_RELU"] > 0
    assert entry["parity"]["finite"] and entry["parity"]["max_abs_err"] < 2 * GATES["int8"].max_abs_err
    # the scheme and the rewrites it was converted with, and every conv MAC on int8 activations (read from the file)
    assert entry["integer"] == {"activation_bits": 8, "weight_bits": 8, "rewrites": ["equalize", "split_concats"]}
    assert set(entry["macs"]["by_input_type"]) == {"int8"}
    assert entry["macs"]["by_input_type"]["int8"] == entry["macs"]["graph"] > 0


def test_sub_free_couplings_keep_the_float_output_and_leave_no_subtraction(compact):
    """``2·sigmoid(h) − 1 = tanh(h/2)`` and ``a − b = a + (−b)`` with negated convolutions: the denoiser's output
    moves by float rounding only, and the converted graph holds no SUB (and no LOGISTIC: TANH instead)."""
    import copy

    from invdn_mobile.model.coupling import SubFreeCoupling, sub_free

    model = copy.deepcopy(compact)
    sub_free(model)
    assert all(isinstance(b, SubFreeCoupling) for s in model.scales for b in s.blocks)
    x = torch.rand(1, 3, TILE, TILE, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        ref = Denoiser(compact, tile=(TILE, TILE))(x)
        out = Denoiser(model, tile=(TILE, TILE))(x)
    assert 0.0 < float((out - ref).abs().max()) <= 1e-5  # changed ops, same function
    require_module("ai_edge_quantizer")
    from invdn_mobile.export import tflite
    from invdn_mobile.runtimes.litert import interpreter

    names = {
        o["op_name"] for o in ops_details(interpreter(tflite.to_fp32(Denoiser(model, tile=(TILE, TILE)).eval(), TILE)))
    }
    assert "SUB" not in names and "LOGISTIC" not in names and {"TANH", "EXP", "ADD"} <= names


def test_a16w8_file_is_integer_with_16_bit_activations_and_close_to_fp32(compact, calib, batch):
    """The android-npu-a16w8 scheme: every op between the input QUANTIZE and the output DEQUANTIZE reads and writes
    int16 (read from the file's tensors, not from our checker), and the output is nearer FP32 than 8-bit's."""
    require_module("ai_edge_quantizer")
    from invdn_mobile.export import tflite
    from invdn_mobile.export.integer import prepared, tflite_float_ops
    from invdn_mobile.runtimes.litert import LiteRTRunner, interpreter

    denoiser = prepared(Denoiser(compact, tile=(TILE, TILE)).eval(), ExportOptions(equalize=True, sub_free=True))
    fp32 = tflite.to_fp32(denoiser, TILE)
    a16 = tflite.quantize_full(fp32, calib, activation_bits=16)
    assert tflite_float_ops(a16) == []
    interp = interpreter(a16)
    types = {t["index"]: t["dtype"] for t in interp.get_tensor_details()}
    for op in ops_details(interp):
        if op["op_name"] in ("QUANTIZE", "DEQUANTIZE"):  # the float image in, the float image out
            continue
        data = op["inputs"][2] if op["op_name"] == "TRANSPOSE_CONV" else op["inputs"][0]  # (shape, weights, input)
        assert types[data] == np.int16 and all(types[t] == np.int16 for t in op["outputs"]), op
    ref = np.clip(LiteRTRunner(fp32).run(batch), 0, 1)
    err16 = float(np.abs(LiteRTRunner(a16).run(batch) - ref).mean())
    err8 = float(np.abs(LiteRTRunner(tflite.quantize_full(fp32, calib)).run(batch) - ref).mean())
    assert err16 < err8 / 3, (err16, err8)


def test_split_concats_keep_the_float_output_and_leave_no_concatenation(compact):
    """Convolutions split by input and output channel group compute the same function (float rounding only), also
    on sub-free couplings, and the converted graph holds neither CONCATENATION nor SLICE."""
    import copy

    from invdn_mobile.model.coupling import ResidualBlock, sub_free
    from invdn_mobile.model.haar import HaarDownsample
    from invdn_mobile.model.split import split_concats

    x = torch.rand(2, 3, TILE, TILE, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        ref = Denoiser(compact, tile=(TILE, TILE))(x)
        for free in (False, True):
            model = copy.deepcopy(compact)
            if free:
                sub_free(model)
            split_concats(model)
            left = [m for m in model.modules() if type(m) in (ResidualBlock, HaarDownsample)]
            assert left == []
            out = Denoiser(model, tile=(TILE, TILE))(x)
            assert float((out - ref).abs().max()) <= 1e-5  # other ops, same function
            assert float((model(x) - compact(x)).abs().max()) <= 1e-5  # the full forward pass too
        # a model with the depth-to-space inverse splits into the same function
        d2s, _ = load_weights(require_weights("compact"), inverse_mode="d2s")
        ref = Denoiser(d2s, tile=(TILE, TILE))(x)
        split_concats(d2s)
        assert float((Denoiser(d2s, tile=(TILE, TILE))(x) - ref).abs().max()) <= 1e-5
    require_module("ai_edge_quantizer")
    from invdn_mobile.export import tflite
    from invdn_mobile.runtimes.litert import interpreter

    ops = [
        o["op_name"] for o in ops_details(interpreter(tflite.to_fp32(Denoiser(model, tile=(TILE, TILE)).eval(), TILE)))
    ]
    assert "CONCATENATION" not in ops and "SLICE" not in ops and ops.count("TRANSPOSE_CONV") > 2


def test_onnx_a16w8_is_all_qdq_with_16_bit_activations_and_close_to_fp32(compact, calib, batch):
    """The onnx-npu-a16w8 scheme: every compute node between Q/DQ (our checker), every activation Q/DQ 16-bit and
    every weight 8-bit (read from the file's zero points), and its output nearer FP32 than the 8-bit QDQ one's."""
    require_module("onnxruntime")
    from onnx import numpy_helper

    from invdn_mobile.export import onnx as onnx_backend
    from invdn_mobile.export.integer import onnx_float_ops, prepared
    from invdn_mobile.runtimes.onnxrt import OrtRunner

    denoiser = prepared(Denoiser(compact, tile=(TILE, TILE)).eval(), ExportOptions(equalize=True, split_concats=True))
    fp32 = onnx_backend.to_onnx_fp32(denoiser, TILE)
    a16 = onnx_backend.to_int8_full(fp32, calib, activation_bits=16)
    assert onnx_float_ops(a16) == []
    inits = {i.name: numpy_helper.to_array(i) for i in a16.graph.initializer}
    producer = {o: n for n in a16.graph.node for o in n.output}
    activations, weights = set(), set()
    for node in a16.graph.node:
        if node.op_type == "DequantizeLinear" and node.input[0] not in inits:
            activations.add(inits[node.input[2]].dtype)
        if node.op_type in ("Conv", "ConvTranspose"):
            weights.add(inits[producer[node.input[1]].input[0]].dtype)
    assert activations == {np.dtype(np.uint16)} and weights == {np.dtype(np.int8)}, (activations, weights)
    ref = np.clip(OrtRunner(fp32.SerializeToString()).run(batch), 0, 1)
    err16 = float(np.abs(OrtRunner(a16.SerializeToString()).run(batch) - ref).mean())
    err8 = float(np.abs(OrtRunner(onnx_backend.to_int8_full(fp32, calib).SerializeToString()).run(batch) - ref).mean())
    assert err16 < err8 / 3, (err16, err8)


def test_mixed_file_has_int8_convolutions_and_16_bit_state_and_sits_between(compact, calib, batch):
    """The android-npu-int8-s16 scheme: no float op (the file's tensor types), the convolutions that read the blocks'
    hidden path int8 (most of the MACs), the rest of the compute int16 (conv1 reads the 16-bit state, as in ONNX)
    with requantizing QUANTIZEs where they meet; its error against FP32 lies below the every-op-int8 file's and above
    the a16w8 file's."""
    require_module("ai_edge_quantizer")
    from invdn_mobile.export import tflite
    from invdn_mobile.export.integer import integer_io, prepared, tflite_float_ops
    from invdn_mobile.runtimes.litert import LiteRTRunner, interpreter

    options = ExportOptions(equalize=True, sub_free=True, split_concats=True)
    fp32 = tflite.to_fp32(prepared(Denoiser(compact, tile=(TILE, TILE)).eval(), options), TILE)
    mixed = tflite.quantize_full(fp32, calib, state_bits=16)
    assert tflite_float_ops(mixed) == []
    interp = interpreter(mixed)
    types = {t["index"]: t["dtype"] for t in interp.get_tensor_details()}
    ops = ops_details(interp)
    by_type: dict[tuple[str, type], int] = {}
    for op in ops:
        key = (op["op_name"], types[op["outputs"][0]])
        by_type[key] = by_type.get(key, 0) + 1
    convs8, convs16 = by_type.get(("CONV_2D", np.int8), 0), by_type.get(("CONV_2D", np.int16), 0)
    assert by_type.get(("LEAKY_RELU", np.int8)) == sum(v for (n, _), v in by_type.items() if n == "LEAKY_RELU")
    leaky = by_type[("LEAKY_RELU", np.int8)]
    assert convs8 == leaky and convs16 > leaky  # conv2, conv3r at 8 bits; conv1, conv3x (one each) and Haar at 16
    writer = {o: op for op in ops for o in op["outputs"]}
    requantized = [  # LEAKY_RELUs after conv1: int16 conv output -> QUANTIZE to int8 -> LEAKY_RELU
        op
        for op in ops
        if op["op_name"] == "LEAKY_RELU"
        and writer[op["inputs"][0]]["op_name"] == "QUANTIZE"
        and types[writer[op["inputs"][0]]["inputs"][0]] == np.int16
    ]
    assert len(requantized) == leaky // 2, (len(requantized), leaky)
    for name in ("ADD", "MUL", "EXP", "TANH", "TRANSPOSE_CONV"):
        assert by_type.get((name, np.int16), 0) > 0 and by_type.get((name, np.int8), 0) == 0, name
    assert by_type.get(("QUANTIZE", np.int8), 0) > 1 and by_type.get(("QUANTIZE", np.int16), 0) > 0  # requantizing
    ref = np.clip(LiteRTRunner(fp32).run(batch), 0, 1)
    # int8 I/O: the 16-bit ends stay as requantizations (int8 -> int16 in, int16 -> int8 out), the same computation
    # on an 8-bit photo up to the 8-bit output step
    mixed_io = integer_io(mixed, tflite.IMAGE_RANGE)
    assert tflite_float_ops(mixed_io) == []
    io = interpreter(mixed_io)
    for detail in io.get_input_details() + io.get_output_details():
        assert detail["dtype"] == np.int8 and detail["quantization"][1] == -128, detail
        assert abs(detail["quantization"][0] - 1 / 255) < 1e-7
    io_ops = [op["op_name"] for op in ops_details(io)]
    assert io_ops[0] == io_ops[-1] == "QUANTIZE" and "DEQUANTIZE" not in io_ops
    photo = np.round(np.clip(batch, 0, 1) * 255) / 255  # an 8-bit photo: its int8 code is exact
    out = np.clip(LiteRTRunner(mixed).run(photo), 0, 1)
    assert float(np.abs(LiteRTRunner(mixed_io).run(photo) - out).max()) <= 0.6 / 255
    errors = {}
    for label, data in (("mixed", mixed), ("int8", tflite.quantize_full(fp32, calib))):
        errors[label] = float(np.abs(LiteRTRunner(data).run(batch) - ref).mean())
    errors["a16"] = float(
        np.abs(LiteRTRunner(tflite.quantize_full(fp32, calib, activation_bits=16)).run(batch) - ref).mean()
    )
    assert errors["a16"] < errors["mixed"] < errors["int8"] / 1.5, errors


def test_onnx_mixed_is_all_qdq_with_int8_hidden_path_and_16_bit_state(compact, calib, batch):
    """The onnx-npu-int8-s16 scheme: every compute node between Q/DQ, the LeakyRelus, conv2 and conv3r of every block
    quantized to int8 and the coupling state to uint16 (read from the file's zero points; conv1, which reads the
    state, is 16-bit in ONNX Runtime's mixed-precision rules), nearer FP32 than every-op int8."""
    require_module("onnxruntime")
    from onnx import numpy_helper

    from invdn_mobile.export import onnx as onnx_backend
    from invdn_mobile.export.integer import onnx_float_ops, onnx_hidden_tensors, prepared
    from invdn_mobile.runtimes.onnxrt import OrtRunner

    denoiser = prepared(Denoiser(compact, tile=(TILE, TILE)).eval(), ExportOptions(equalize=True, split_concats=True))
    fp32 = onnx_backend.to_onnx_fp32(denoiser, TILE)
    hidden = onnx_hidden_tensors(fp32)
    assert len(hidden) > 100  # conv1, LeakyRelu, conv2, LeakyRelu, conv3r of every block
    mixed = onnx_backend.to_int8_full(fp32, calib, state_bits=16)
    assert onnx_float_ops(mixed) == []
    inits = {i.name: numpy_helper.to_array(i) for i in mixed.graph.initializer}
    leaky_out = {n.output[0] for n in fp32.graph.node if n.op_type == "LeakyRelu"}
    after_leaky = {n.output[0] for n in fp32.graph.node if n.op_type == "Conv" and n.input[0] in leaky_out}
    kinds = {"8-bit path": set(), "state": set()}
    for node in mixed.graph.node:
        if node.op_type == "QuantizeLinear" and node.input[0] not in inits:
            t = node.input[0]
            if t in leaky_out or t in after_leaky:  # LeakyRelu, conv2 and conv3r outputs
                kinds["8-bit path"].add(inits[node.input[2]].dtype)
            elif t not in hidden:
                kinds["state"].add(inits[node.input[2]].dtype)
    assert len(after_leaky) > 50 and kinds["8-bit path"] == {np.dtype(np.int8)}, kinds
    assert np.dtype(np.uint16) in kinds["state"], kinds
    ref = np.clip(OrtRunner(fp32.SerializeToString()).run(batch), 0, 1)
    err_mixed = float(np.abs(OrtRunner(mixed.SerializeToString()).run(batch) - ref).mean())
    err8 = float(np.abs(OrtRunner(onnx_backend.to_int8_full(fp32, calib).SerializeToString()).run(batch) - ref).mean())
    assert err_mixed < err8 / 1.5, (err_mixed, err8)


def test_split_concatenations_let_8bit_weights_hold_on_the_stress_photos(compact):
    """Weight-only INT8 (``android-int8w``, ``ios-int8``): a residual block's last convolution reads the block's input
    and its hidden channels concatenated, and one per-channel weight scale for both leaves the input's weights (about
    0.6x the hidden ones') coarse, an error that is coherent over the photo. Split into two convolutions (exact in
    float) each part gets its own scale. Real LiteRT files at tile 64, executed on the held-out and stress photos,
    against the PyTorch FP32 outputs: unsplit, the worst photo loses several times what the split file loses, and only
    the split file passes the worst-case INT8 gate."""
    require_module("ai_edge_quantizer")
    from collections import Counter

    from invdn_mobile.export import tflite
    from invdn_mobile.export.integer import prepared
    from invdn_mobile.export.photos import sample_photos
    from invdn_mobile.parity import DEFAULT_NOISES, measure, parity_set
    from invdn_mobile.runtimes.litert import LiteRTRunner, interpreter

    tile = 64
    denoiser = Denoiser(compact, tile=(tile, tile)).eval()
    pset = parity_set(denoiser, sample_photos("heldout"), DEFAULT_NOISES, tile, whole=False, sets=("heldout", "stress"))
    rows = {}
    for split in (False, True):
        model = tflite.quantize(tflite.to_fp32(prepared(denoiser, ExportOptions(split_concats=split)), tile), "int8w")
        ops = Counter(o["op_name"] for o in ops_details(interpreter(model)))
        assert ops["DEQUANTIZE"] >= 24 and "QUANTIZE" not in ops, ops  # int8 weights, float activations
        rows[split] = measure("int8w", "tflite", "int8w", LiteRTRunner(model, None), pset, GATES["int8w"])
    assert rows[True].status == "pass", rows[True].failures
    assert rows[False].drop_worst_db > 3 * max(rows[True].drop_worst_db, 0.02), (rows[False].drop_worst_db, rows[True])
    assert rows[False].max_abs_err > 1.5 * rows[True].max_abs_err
