"""The Core ML reference evaluator (``invdn_mobile.runtimes.coreml_mil``) against things it does not share code with:
ONNX Runtime on the same weights, the PyTorch weights themselves, and hand-made MIL programs whose FP16 result is
known."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from conftest import require_module
from typer.testing import CliRunner

from invdn_mobile.cli.main import app
from invdn_mobile.errors import InvdnError
from invdn_mobile.export import coreml, onnx
from invdn_mobile.metrics import psnr
from invdn_mobile.model import Denoiser
from invdn_mobile.model.checkpoint import load_weights
from invdn_mobile.runtimes.coreml_mil import MilProgram, MilRunner
from invdn_mobile.runtimes.onnxrt import OrtRunner

TILE = 32
ct = require_module("coremltools")


@pytest.fixture(scope="module")
def nets(tiny_weights):
    model, _ = load_weights(tiny_weights)
    return {z: Denoiser(model, tile=(TILE, TILE), seed=0, z_scale=1.0, z_input=z).eval() for z in (False, True)}


@pytest.fixture(scope="module")
def programs(tmp_path_factory, nets):
    """The tiny net as Core ML programs (FP32, FP16, INT8 weights; image and tensor I/O) and as ONNX FP32."""
    folder = tmp_path_factory.mktemp("programs")
    paths = {}
    for precision in ("fp32", "fp16", "int8"):
        for z in (False, True):
            paths[precision, z] = folder / f"{precision}{'-zin' if z else ''}.mlpackage"
            coreml.export(nets[z], precision, TILE, paths[precision, z])
    paths["onnx"] = folder / "fp32-zin.onnx"
    onnx.export(nets[True], "fp32", TILE, paths["onnx"])
    return paths


@pytest.fixture(scope="module")
def tile_input():
    rng = np.random.default_rng(3)
    return (np.round(rng.random((1, 3, TILE, TILE)) * 255) / 255).astype(np.float32)  # 8-bit values


def test_fp32_program_matches_onnxruntime(programs, nets, tile_input):
    z = nets[True].z_for(TILE, TILE).numpy()
    ours = MilRunner(programs["fp32", True], z).run(tile_input)
    ort = OrtRunner(programs["onnx"], z).run(tile_input)
    assert ours.shape == ort.shape == tile_input.shape
    assert np.abs(ours - ort).max() <= 1e-5
    assert np.abs(ort).max() > 0.1  # not a trivially zero output


def test_image_io_is_8bit_pixels_in_and_the_program_output_out(programs, nets, tile_input):
    """The constant-z artifact takes 0..255 pixels (scaled by 1/255 inside) and returns its clipped output x 255: the
    runner's [0, 1] view of it equals the tensor twin's output, clipped."""
    z = nets[True].z_for(TILE, TILE).numpy()
    image = MilRunner(programs["fp32", False])
    assert image.clips_output and image.program.image_inputs == {"image"}
    tensor_out = MilRunner(programs["fp32", True], z).run(tile_input)
    assert np.abs(image.run(tile_input) - np.clip(tensor_out, 0, 1)).max() <= 1e-5


def test_fp16_program_computes_in_fp16(programs, nets, tile_input):
    z = nets[True].z_for(TILE, TILE).numpy()
    program = MilProgram(programs["fp16", True])
    assert program.arithmetic == "fp16" and program.inputs["image"][0] == "fp16"
    outputs, events = program.run({"image": tile_input, "z": z})
    assert outputs["denoised"].dtype == np.float16 and events == []
    ort = OrtRunner(programs["onnx"], z).run(tile_input)
    err = np.abs(outputs["denoised"].astype(np.float32) - ort).max()
    assert 1e-4 < err < 0.1  # FP16 rounding is visible (an FP32 evaluation would be within 1e-5), and small


def _one_op_program(tmp_path, name, op, precision):
    from coremltools.converters.mil import Builder as mb

    @mb.program(input_specs=[mb.TensorSpec(shape=(1, 4))], opset_version=ct.target.iOS16)
    def prog(x):
        return op(mb, x)

    compute = ct.precision.FLOAT16 if precision == "fp16" else ct.precision.FLOAT32
    model = ct.convert(
        prog, convert_to="mlprogram", compute_precision=compute, minimum_deployment_target=ct.target.iOS16
    )
    path = tmp_path / f"{name}-{precision}.mlpackage"
    model.save(str(path))
    return MilProgram(path)


def test_fp16_rounding_is_that_of_half_floats(tmp_path):
    """1 + 2^-12 is 1 in float16 (its spacing at 1 is 2^-10) but not in float32; exp(12) overflows float16."""
    x = np.array([[1.0, 2.0, 12.0, -3.0]], dtype=np.float32)
    results = {}
    for precision in ("fp16", "fp32"):
        program = _one_op_program(tmp_path, "add", lambda mb, x: mb.add(x=x, y=np.float32(2.0**-12)), precision)
        (out,) = program.run({"x": x})[0].values()
        results[precision] = out.astype(np.float64)
    assert results["fp16"][0, 0] == 1.0 and results["fp32"][0, 0] == 1.0 + 2.0**-12
    program = _one_op_program(tmp_path, "exp", lambda mb, x: mb.exp(x=x), "fp16")
    outputs, events = program.run({"x": x})
    (out,) = outputs.values()
    assert np.isinf(out[0, 2]) and np.isfinite(out[0, [0, 1, 3]]).all()
    assert len(events) == 1 and events[0].startswith("exp ") and "Inf/NaN in fp16" in events[0]


def test_an_op_it_does_not_know_fails_loudly(tmp_path):
    with pytest.raises(InvdnError, match="op type\\(s\\) tanh not supported by coreml-mil-reference"):
        _one_op_program(tmp_path, "tanh", lambda mb, x: mb.tanh(x=x), "fp32")


def test_int8_weights_are_dequantized_as_the_op_says(programs, nets, tile_input):
    """Every dequantized conv weight is the PyTorch weight to within half its channel's quantization step, plus what
    float16 costs: the weight is rounded to float16 before it is quantized, the step is stored in float16 (up to 127
    steps of its rounding) and the product is rounded to float16. The whole program stays close to FP32."""
    from coremltools.converters.mil.frontend.milproto.load import load

    path = programs["int8", True]
    model = ct.models.MLModel(str(path), skip_model_load=True)
    spec = model.get_spec()
    fn = load(spec, spec.specificationVersion, model.weights_dir).functions["main"]
    evaluator = MilProgram(path)
    weights = {k: v.numpy().astype(np.float64) for k, v in nets[True].state_dict().items() if v.dim() == 4}
    checked = set()
    for op in fn.operations:
        if op.op_type != "constexpr_affine_dequantize":
            continue
        got = evaluator.constants[op.outputs[0].name].numpy().astype(np.float64)
        # the PyTorch weight it stands for: the nearest of that shape, either sign (coremltools folds the negation of
        # the reverse pass's -G(y1) into a new weight)
        candidates = [(k, s * w) for k, w in weights.items() if w.shape == got.shape for s in (1, -1)]
        if not candidates:
            continue  # the fixed Haar kernels
        name, want = min(candidates, key=lambda kw: np.abs(got - kw[1]).max())
        step = op.inputs["scale"].val.astype(np.float64)
        axis = int(op.inputs["axis"].val)
        step = step.reshape([-1 if d == axis else 1 for d in range(got.ndim)])
        bound = step * (0.5 + 127 * 2.0**-11) + np.abs(want) * 2.0**-10
        assert np.all(np.abs(got - want) <= bound), f"{name}: {float((np.abs(got - want) / bound).max()):.2f} x bound"
        assert np.abs(got - want).max() > 1e-6  # quantized, not the float weights
        checked.add(name)
    # coremltools quantizes weights of more than 2048 elements (its default threshold); smaller ones stay FP16
    assert checked == {k for k, w in weights.items() if w.size > 2048} and checked
    z = nets[True].z_for(TILE, TILE).numpy()
    ours = MilRunner(path, z).run(tile_input)
    ort = OrtRunner(programs["onnx"], z).run(tile_input)
    assert 30 < psnr(np.clip(ort, 0, 1), ours) < 90  # int8 weights: far from exact, far from broken


def test_a_broken_weight_inside_an_mlpackage_fails_its_parity(tmp_path, tiny_weights, sample_clean):
    """Export a Core ML FP32 artifact, check it passes, then scale one conv weight in the package's weight file:
    `invdn parity` must fail it."""
    photos = tmp_path / "photos"
    photos.mkdir()
    from PIL import Image

    Image.open(sorted(sample_clean.iterdir())[0]).crop((100, 100, 164, 164)).save(photos / "a.png")
    out = tmp_path / "out"
    args = ["--images", str(photos), "--set", "heldout", "--weights", str(tiny_weights), "--noise", "awgn:15"]
    runner = CliRunner()
    result = runner.invoke(
        app, ["export", "--format", "coreml", "--precision", "fp32", "--tile", "32", "-o", str(out), *args]
    )
    assert result.exit_code == 0, result.output
    (entry,) = [e for e in json.loads((out / "manifest.json").read_text())["artifacts"] if not e["z"]["as_input"]]
    assert entry["gate"]["status"] == "pass" and entry["parity"]["max_abs_err"] <= 1e-4
    package = out / entry["file"]
    broken = tmp_path / "broken"
    shutil.copytree(out, broken)
    blob = next((broken / entry["file"]).rglob("weight.bin"))
    data = bytearray(blob.read_bytes())
    model, _ = load_weights(tiny_weights)
    weight = model.state_dict()["scales.0.blocks.0.F.conv3.weight"].numpy().astype("<f4")
    at = bytes(data).find(weight.tobytes())
    assert at > 0, "the FP32 weight is stored verbatim in the weight file"
    data[at : at + weight.nbytes] = (weight * 1.01).tobytes()
    blob.write_bytes(bytes(data))
    result = runner.invoke(app, ["parity", str(broken / entry["file"]), *args])
    assert result.exit_code == 1, result.output
    assert "coreml-mil-reference" in result.stdout and "| fail: max abs error" in result.stdout
    result = runner.invoke(app, ["parity", str(package), *args])  # the good one still passes
    assert result.exit_code == 0 and "status: 1 pass, 0 fail, 0 unverified" in result.stdout
