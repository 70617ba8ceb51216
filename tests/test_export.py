"""Export every registered format x precision at a small tile and run parity on it (parametrized from the registry,
so a new row is tested automatically)."""

import json

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from invdn_mobile.cli.main import app
from invdn_mobile.export.registry import FORMATS, GATES
from invdn_mobile.export.run import all_format_precisions
from invdn_mobile.model.checkpoint import default_weights

runner = CliRunner()
TILE = 32


@pytest.fixture(scope="module")
def photos(tmp_path_factory, sample_clean):
    folder = tmp_path_factory.mktemp("parity-photos")
    for p in sorted(sample_clean.iterdir())[:2]:
        Image.open(p).crop((100, 100, 170, 150)).save(folder / p.name)
    return folder


@pytest.fixture(scope="module")
def weights(tiny_weights):
    """Trained weights where shipped (INT8 parity on random weights says nothing); else the tiny random net."""
    return default_weights("paper") or tiny_weights


def _export(fmt, precision, out, weights, photos, sample_clean):
    return runner.invoke(
        app,
        [
            "export",
            "--format",
            fmt,
            "--precision",
            precision,
            "--tile",
            str(TILE),
            "-o",
            str(out),
            "--weights",
            str(weights),
            "--images",
            str(photos),
            "--calibration",
            str(sample_clean.parent / "calibration"),
        ],
    )


def _cases():
    """Every registered format x precision. INT8 ONNX is a known gate failure on the v0 weights (the export issue's
    per-layer sensitivity search is what fixes it); strict xfail, so the day it passes the marker must go."""
    for fmt, precision in all_format_precisions():
        marks = ()
        if (fmt, precision) == ("onnx", "int8") and default_weights("paper") is not None:
            marks = pytest.mark.xfail(
                strict=True,
                reason="ONNX INT8 QDQ (Conv/ConvTranspose, per-channel) loses ~3.5 dB vs clean on the v0 paper "
                "weights (gate: 0.3 dB); needs the per-layer sensitivity search of the export issue",
            )
        yield pytest.param(fmt, precision, marks=marks)


@pytest.mark.parametrize("fmt,precision", _cases())
def test_export_and_parity(fmt, precision, tmp_path, weights, photos, sample_clean):
    out = tmp_path / "out"
    result = _export(fmt, precision, out, weights, photos, sample_clean)
    manifest = json.loads((out / "manifest.json").read_text())["artifacts"]
    assert len(manifest) == 2  # the constant-z artifact and the z-input variant
    for entry in manifest:
        assert entry["tile"] == [TILE, TILE] and entry["precision"] == precision
        assert entry["bytes"] > 1000 and len(entry["sha256"]) == 64
        assert entry["inputs"][0]["shape"] == [1, 3, TILE, TILE]
        assert entry["z"]["as_input"] == entry["file"].split(".")[0].endswith("zin")
        p = entry["parity"]
        assert p["finite"] and p["images"] == 2
        if entry["macs"]["graph"] is not None:  # counted on the exported graph; the forward is pruned already
            assert (
                abs(entry["macs"]["graph"] - entry["macs"]["torch_denoiser"]) <= 0.02 * entry["macs"]["torch_denoiser"]
            )
    gate = GATES[precision]
    if gate.max_abs_err is not None:
        assert all(e["parity"]["max_abs_err"] <= gate.max_abs_err for e in manifest)
    if weights.name != "tiny.safetensors" or precision != "int8":
        assert result.exit_code == 0, result.output
        assert all(e["gate"]["passed"] for e in manifest)
    # `invdn parity` on the folder reproduces the export's own numbers
    again = runner.invoke(app, ["parity", str(out), "--images", str(photos), "--weights", str(weights), "--json"])
    rows = [json.loads(line) for line in again.stdout.splitlines() if line.startswith("{")]
    assert len(rows) == 2
    for row, entry in zip(rows, manifest):
        assert row["max_abs_err"] == pytest.approx(entry["parity"]["max_abs_err"], rel=1e-3, abs=1e-7)


def test_gate_fails_on_a_broken_artifact(tmp_path, tiny_weights, photos, sample_clean):
    import onnx
    from onnx import numpy_helper

    out = tmp_path / "out"
    assert _export("onnx", "fp32", out, tiny_weights, photos, sample_clean).exit_code == 0
    path = out / f"invdn-custom-{TILE}-fp32.onnx"
    model = onnx.load(str(path))
    init = next(i for i in model.graph.initializer if numpy_helper.to_array(i).ndim == 4)
    init.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(init) * 1.5, init.name))
    onnx.save(model, str(path))
    result = runner.invoke(app, ["parity", str(path), "--images", str(photos), "--weights", str(tiny_weights)])
    assert result.exit_code == 1
    assert "parity gate failed" in result.stderr and "FAIL: max abs error" in result.stdout


def test_registry_rows_have_runtimes():
    from invdn_mobile.runtimes import RUNTIMES

    for fmt in FORMATS.values():
        assert fmt.runtime in RUNTIMES, f"{fmt.name} has no runtime"


def test_export_needs_a_choice(tmp_path):
    result = runner.invoke(app, ["export", "-o", str(tmp_path)])
    assert result.exit_code != 0 and "say what to export" in result.stderr
    result = runner.invoke(app, ["export", "--format", "onnx", "--precision", "int4"])
    assert result.exit_code != 0 and "no precision 'int4'" in result.stderr
    np.testing.assert_equal(list(tmp_path.iterdir()), [])
