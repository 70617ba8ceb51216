"""Gates that are seen to fail: one deliberately broken artifact per gate through `invdn parity` (a fail row, the
reason, a non-zero exit), the FP16-compute gate on weights that overflow float16, the unverified status, the
recorded table and `invdn denoise --artifact`."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace

import numpy as np
import onnx
import pytest
from onnx import helper, numpy_helper
from PIL import Image
from typer.testing import CliRunner

from invdn_mobile.cli.main import app
from invdn_mobile.imageio import read_image
from invdn_mobile.model.checkpoint import default_weights, load_weights, save_weights

runner = CliRunner()
TILE = 64


@pytest.fixture(scope="module")
def weights(tiny_weights):
    """Trained weights where shipped (a drop vs clean means nothing for a random net)."""
    return default_weights("compact") or tiny_weights


@pytest.fixture(scope="module")
def fp32_export(tmp_path_factory, weights, photos):
    out = tmp_path_factory.mktemp("fp32")
    result = runner.invoke(
        app,
        ["export", "--format", "onnx", "--precision", "fp32", "--tile", str(TILE), "-o", str(out)]
        + ["--weights", str(weights), "--images", str(photos), "--set", "heldout", "--no-z-variant"],
    )
    assert result.exit_code == 0, result.output
    (entry,) = json.loads((out / "manifest.json").read_text())["artifacts"]
    assert entry["gate"]["status"] == "pass" and entry["parity"]["cases"] == 4  # 2 photos x 2 noise levels
    return out, entry


def _broken(tmp_path, fp32_export, edit, precision="fp32"):
    """A copy of the FP32 export with its graph edited by ``edit(model)``, recorded as ``precision`` (the gate that
    is read is the one of the manifest's precision)."""
    out, entry = fp32_export
    folder = tmp_path / "broken"
    shutil.copytree(out, folder)
    path = folder / entry["file"]
    model = onnx.load(str(path))
    edit(model)
    onnx.save(model, str(path))
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["artifacts"][0]["precision"] = precision
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return path


def _parity(path, photos, weights):
    return runner.invoke(
        app, ["parity", str(path), "--images", str(photos), "--set", "heldout", "--weights", str(weights)]
    )


def _scale_a_weight(factor):
    def edit(model):
        init = next(i for i in model.graph.initializer if numpy_helper.to_array(i).ndim == 4)
        init.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(init) * np.float32(factor), init.name))

    return edit


def _nan_weight(model):
    init = next(i for i in model.graph.initializer if numpy_helper.to_array(i).ndim == 4)
    w = numpy_helper.to_array(init).copy()
    w.flat[0] = np.nan
    init.CopyFrom(numpy_helper.from_array(w, init.name))


def _append(model, nodes, initializers=()):
    """Route the graph's output through ``nodes`` (they read "out0" and write "out1")."""
    out = model.graph.output[0].name
    for node in model.graph.node:
        node.output[:] = ["out0" if o == out else o for o in node.output]
    model.graph.node.extend(nodes)
    model.graph.initializer.extend(initializers)
    for node in model.graph.node[-len(nodes) :]:
        node.output[:] = [out if o == "out1" else o for o in node.output]


def _crop_output(model):
    starts = numpy_helper.from_array(np.array([0], dtype=np.int64), "c_starts")
    ends = numpy_helper.from_array(np.array([TILE - 4], dtype=np.int64), "c_ends")
    axes = numpy_helper.from_array(np.array([3], dtype=np.int64), "c_axes")
    node = helper.make_node("Slice", ["out0", "c_starts", "c_ends", "c_axes"], ["out1"])
    _append(model, [node], [starts, ends, axes])
    del model.graph.output[0].type.tensor_type.shape.dim[:]


def _dim_output(model):
    """Every output value x 0.9: darker everywhere, no pixel far off."""
    k = numpy_helper.from_array(np.array(0.9, dtype=np.float32), "dim_k")
    _append(model, [helper.make_node("Mul", ["out0", "dim_k"], ["out1"])], [k])


def _one_pixel_off(model):
    """The first value of every tile 0.3 off (up below mid-grey, down above it); nothing else changes."""
    mask = np.zeros((1, 3, TILE, TILE), dtype=np.float32)
    mask[0, 0, 0, 0] = 0.3
    consts = [
        numpy_helper.from_array(mask, "px_mask"),
        numpy_helper.from_array(np.array(0.5, dtype=np.float32), "px_half"),
    ]
    nodes = [
        helper.make_node("Less", ["out0", "px_half"], ["px_low"]),
        helper.make_node("Add", ["out0", "px_mask"], ["px_up"]),
        helper.make_node("Sub", ["out0", "px_mask"], ["px_down"]),
        helper.make_node("Where", ["px_low", "px_up", "px_down"], ["out1"]),
    ]
    _append(model, nodes, consts)


@pytest.mark.parametrize(
    "edit, precision, reason",
    [
        (_scale_a_weight(1.001), "fp32", "max abs error"),
        (_scale_a_weight(1.01), "fp16", "PSNR vs PyTorch"),
        (_dim_output, "int8", "drop vs clean"),
        (_one_pixel_off, "int8", "max abs error 3.00e-01 > 0.25"),
        (_nan_weight, "fp32", "NaN or Inf in the output"),
        (_crop_output, "fp32", f"output shape [1, 3, {TILE}, {TILE - 4}], expected [1, 3, {TILE}, {TILE}]"),
    ],
    ids=["fp32-max-abs-err", "fp16-psnr", "int8-drop", "int8-pixel-bound", "nan", "wrong-shape"],
)
def test_each_gate_fails_a_broken_artifact(tmp_path, fp32_export, photos, weights, edit, precision, reason):
    path = _broken(tmp_path, fp32_export, edit, precision)
    result = _parity(path, photos, weights)
    assert result.exit_code == 1, result.output
    rows = [line for line in result.stdout.splitlines() if f"/{path.name} | {precision} |" in line]
    assert rows and "| fail: " in rows[0] and reason in rows[0], result.stdout
    assert "status: 0 pass, 1 fail, 0 unverified" in result.stdout
    assert f"parity gate failed: {path.name}" in result.stderr
    if precision == "int8":  # each INT8 break trips its own bound only
        other = "max abs error" if reason.startswith("drop") else "drop vs clean"
        assert other not in rows[0]


def test_the_unbroken_copy_passes(tmp_path, fp32_export, photos, weights):
    """The harness above is not what fails: the same copy, unedited, passes every gate it is relabelled to."""
    for precision in ("fp32", "fp16", "int8"):
        path = _broken(tmp_path / precision, fp32_export, lambda model: None, precision)
        result = _parity(path, photos, weights)
        assert result.exit_code == 0 and "status: 1 pass, 0 fail, 0 unverified" in result.stdout, result.output


def test_fp16_compute_gate_fails_weights_that_overflow_fp16(tmp_path, tiny_weights, photos):
    """A bias of 30000 in the first F convolution: FP32 carries it (the coupling undoes it exactly) but two such values
    added overflow float16; the FP16-compute row must fail, naming the op, and the export must exit 1."""
    model, meta = load_weights(tiny_weights)
    bias = model.scales[0].blocks[0].F.conv3.bias
    bias.data.fill_(30000.0)
    overflow = tmp_path / "overflow.safetensors"
    save_weights(overflow, model, {"z": meta.get("z", {"seed": 0, "scale": 1.0})})
    out = tmp_path / "out"
    result = runner.invoke(
        app,
        ["export", "--format", "onnx", "--precision", "fp16", "--tile", "16", "-o", str(out), "--no-z-variant"]
        + ["--weights", str(overflow), "--images", str(photos), "--set", "heldout", "--noise", "awgn:15"],
    )
    assert result.exit_code == 1, result.output
    (entry,) = json.loads((out / "manifest.json").read_text())["artifacts"]
    row = entry["parity_fp16_compute"]
    assert row["evaluator"] == "torch-fp16-ops" and row["status"] == "fail"
    assert any("Inf/NaN in fp16" in f for f in row["failures"]), row["failures"]
    assert entry["gate"]["status"] == "fail" and entry["file"].endswith(".rejected")


def test_an_artifact_nothing_here_can_run_is_unverified(fp32_export):
    """A format without a runtime: its row says unverified with the reason, never pass."""
    from invdn_mobile.export.registry import get_format
    from invdn_mobile.export.run import check_artifact, record_parity

    out, entry = fp32_export
    fmt = replace(get_format("onnx"), runtime="", why_not_run="no runtime for it on this OS")
    rows = check_artifact(out / entry["file"], entry, fmt, pset=None)
    assert [(r.status, r.failures) for r in rows] == [("unverified", ("no runtime for it on this OS",))]
    recorded = dict(entry)
    record_parity(recorded, rows)
    assert recorded["gate"] == {
        "status": "unverified",
        "passed": False,
        "failures": [],
        "reason": "no runtime for it on this OS",
    }


def test_the_recorded_table_runs_nothing(fp32_export, tmp_path):
    out, entry = fp32_export
    root = tmp_path / "export-out"
    shutil.copytree(out, root / "onnx-fp32")
    result = runner.invoke(app, ["parity", str(root), "--recorded"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith("| artifact | precision | evaluator |") and lines[0].endswith("| status |")
    row = next(line for line in lines if line.startswith(f"| onnx-fp32/{entry['file']} |"))
    assert "| onnxruntime-cpu |" in row and row.endswith("| pass |")
    assert f"{entry['parity']['max_abs_err']:.1e}" in row
    assert lines[-1] == "status: 1 pass, 0 fail, 0 unverified"


def test_denoise_with_an_artifact_matches_the_pytorch_path(fp32_export, weights, tmp_path, sample_noisy):
    """The FP32 ONNX artifact through `denoise --artifact` writes the photo the PyTorch path writes, within one 8-bit
    level (same tiler, z and strength)."""
    out, entry = fp32_export
    photo = tmp_path / "in" / "cups.png"
    photo.parent.mkdir()
    Image.open(sample_noisy / "cups.png").crop((0, 0, 150, 130)).save(photo)
    a, b = tmp_path / "torch", tmp_path / "artifact"
    r1 = runner.invoke(app, ["denoise", str(photo), "-o", str(a), "--weights", str(weights), "--tile", str(TILE)])
    r2 = runner.invoke(app, ["denoise", str(photo), "-o", str(b), "--artifact", str(out / entry["file"])])
    assert r1.exit_code == 0 and r2.exit_code == 0, r1.output + r2.output
    x, y = (np.asarray(Image.open(d / "cups.png"), dtype=np.int16) for d in (a, b))
    assert x.shape == y.shape == read_image(photo).rgb.shape[:2] + (3,)
    assert np.abs(x - y).max() <= 1 and np.abs(x - np.asarray(Image.open(photo), dtype=np.int16)).mean() > 1


@pytest.mark.parametrize(
    "args, message",
    [
        (["--artifact", "nowhere.onnx"], "nowhere.onnx: no such artifact"),
        (["--artifact", "{photo}"], "no manifest.json beside it"),
        (["--artifact", "{artifact}", "--tta"], "--tta cannot go with --artifact"),
        (["--artifact", "{artifact}", "--tile", "128"], f"takes {TILE}x{TILE} tiles"),
    ],
)
def test_denoise_artifact_mistakes_are_one_line(fp32_export, tmp_path, sample_noisy, args, message):
    out, entry = fp32_export
    photo = sample_noisy / "cups.png"
    args = [a.format(photo=photo, artifact=out / entry["file"]) for a in args]
    result = runner.invoke(app, ["denoise", str(photo), "-o", str(tmp_path / "o"), *args])
    assert result.exit_code == 2 and message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and not (tmp_path / "o").exists()
