"""Export every registered format x precision at a small tile and run parity on it (parametrized from the registry,
so a new row is tested automatically)."""

import json

import numpy as np
import pytest
from conftest import ROOT, require_weights
from typer.testing import CliRunner

from invdn_mobile.cli.main import app
from invdn_mobile.export.registry import FORMATS
from invdn_mobile.export.targets import all_format_precisions, load_targets
from invdn_mobile.gates import GATES
from invdn_mobile.model.checkpoint import default_weights, read_meta

runner = CliRunner()
TILE = 64  # the tile the INT8 recipes' keep_float was measured at (sensitivity search tile)


@pytest.fixture(scope="module")
def weights(tiny_weights):
    """Trained weights where shipped (INT8 parity on random weights says nothing); else the tiny random net."""
    return default_weights("paper") or tiny_weights


def _recipe_keep_float(fmt, precision) -> list[str]:
    """The measured keep_float of the recipe for this format x precision (INT8 recipes carry one)."""
    from invdn_mobile.export.targets import load_targets

    for target in load_targets().values():
        if (target.format, target.precision) == (fmt, precision):
            return list(target.options("paper").keep_float)
    return []


def _export(fmt, precision, out, weights, photos, sample_clean):
    keep = [arg for pattern in _recipe_keep_float(fmt, precision) for arg in ("--keep-float", pattern)]
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
            "--set",
            "heldout",
            "--calibration",
            str(sample_clean.parent / "calibration"),
            *keep,
            *(["--cpu-only"] if (fmt, precision) == ("tflite", "int8dyn") else []),
        ],
    )


@pytest.mark.parametrize("fmt,precision", all_format_precisions())
def test_export_and_parity(fmt, precision, tmp_path, weights, photos, sample_clean):
    out = tmp_path / "out"
    result = _export(fmt, precision, out, weights, photos, sample_clean)
    manifest = json.loads((out / "manifest.json").read_text())["artifacts"]
    assert len(manifest) == 2, result.output  # the constant-z artifact and the z-input variant
    layout = FORMATS[fmt].layout
    for entry in manifest:
        assert entry["tile"] == [TILE, TILE] and entry["precision"] == precision and entry["layout"] == layout
        assert entry["bytes"] > 1000 and len(entry["sha256"]) == 64
        image_shape = [1, TILE, TILE, 3] if layout == "NHWC" else [1, 3, TILE, TILE]
        assert entry["inputs"][0]["shape"] == image_shape and entry["outputs"][0]["shape"] == image_shape
        assert entry["z"]["as_input"] == entry["file"].split(".")[0].endswith("zin")
        assert entry["max_rank"] <= 4 and entry["ops"]
        assert entry["strength"] == read_meta(weights).get("strength")  # the apps' noise-adaptive strength curve
        # MACs counted on the exported graph (its convs) match the PyTorch count of the pruned denoiser
        assert abs(entry["macs"]["graph"] - entry["macs"]["torch_denoiser"]) <= 0.02 * entry["macs"]["torch_denoiser"]
        # every artifact is executed (Core ML by the reference evaluator of its program) on 2 photos x 2 noises
        p = entry["parity"]
        assert p["finite"] and p["cases"] == 4 and p["status"] in ("pass", "fail") and p["evaluator"]
        rows = [p["status"]] + ([entry["parity_fp16_compute"]["status"]] if "parity_fp16_compute" in entry else [])
        assert entry["gate"]["status"] == ("fail" if "fail" in rows else "pass")  # both rows executed: the worse
        assert entry["gate"]["passed"] == (entry["gate"]["status"] == "pass")
        if fmt == "coreml":
            assert p["evaluator"] == "coreml-mil-reference"
            assert p["arithmetic"] == ("fp32" if precision == "fp32" else "fp16")
        if precision == "fp16" and FORMATS[fmt].fp16_compute_row:  # the FP16-arithmetic row beside the runtime's
            assert entry["parity_fp16_compute"]["evaluator"] == "torch-fp16-ops"
            assert entry["parity_fp16_compute"]["psnr_vs_torch_worst"] >= 50
    gate = GATES[precision]
    if gate.max_abs_err is not None:  # FP32: the reference evaluator too is within 1e-4 of PyTorch
        assert all(e["parity"]["max_abs_err"] <= gate.max_abs_err for e in manifest)
    if gate.min_psnr_vs_torch is not None:
        assert all(e["parity"]["psnr_vs_torch_worst"] >= gate.min_psnr_vs_torch for e in manifest)
    statuses = [e["gate"]["status"] for e in manifest]
    assert f"status: {statuses.count('pass')} pass, {statuses.count('fail')} fail, 0 unverified" in result.output
    assert result.exit_code == (1 if "fail" in statuses else 0), result.output
    if precision != "int8" and precision != "int8dyn":
        assert statuses == ["pass", "pass"], result.output
    # `invdn parity` on the folder reproduces the export's own numbers
    again = runner.invoke(
        app, ["parity", str(out), "--images", str(photos), "--set", "heldout", "--weights", str(weights), "--json"]
    )
    rows = [json.loads(line) for line in again.stdout.splitlines() if line.startswith("{")]
    rows = [r for r in rows if r["evaluator"] != "torch-fp16-ops"]
    assert len(rows) == 2
    for row, entry in zip(rows, manifest):
        assert row["status"] == entry["parity"]["status"]
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
    result = runner.invoke(
        app, ["parity", str(path), "--images", str(photos), "--set", "heldout", "--weights", str(tiny_weights)]
    )
    assert result.exit_code == 1
    assert "parity gate failed" in result.stderr and "| fail: max abs error" in result.stdout
    assert "status: 0 pass, 1 fail, 0 unverified" in result.stdout


def test_registry_rows_have_runtimes():
    """Every format is executed here (nothing may pass without having run)."""
    from invdn_mobile.runtimes import RUNTIMES

    for fmt in FORMATS.values():
        module = fmt.module()
        assert callable(module.export) and callable(module.inspect)
        assert fmt.runtime in RUNTIMES, f"{fmt.name} has no runtime: its artifacts would stay unverified"


def test_gpu_delegate_check_rejects_what_the_delegate_cannot_run():
    from invdn_mobile.export.tflite import gpu_delegate_problems

    ok = {"ops": {"CONV_2D": 3, "TRANSPOSE_CONV": 1, "EXP": 2, "LOGISTIC": 2}, "max_rank": 4}
    assert gpu_delegate_problems(ok) == []
    bad = {"ops": {"CONV_2D": 3, "GATHER": 1, "CAST": 2}, "max_rank": 6}
    problems = gpu_delegate_problems(bad)
    assert problems == ["op CAST x2", "op GATHER x1", "a 6-D tensor (the delegate takes at most 4-D)"]


def test_export_fails_and_leaves_nothing_when_the_gpu_check_fails(tmp_path, tiny_weights, photos, sample_clean):
    """Dynamic-range INT8 (int8 weights read by float activations) has no GPU-delegate kernels: without
    ``cpu_only`` (the android-cpu-int8dyn recipe sets it) the export is refused and nothing is written."""
    args = ["export", "--format", "tflite", "--precision", "int8dyn", "--tile", str(TILE), "-o", str(tmp_path / "out")]
    result = runner.invoke(app, [*args, "--weights", str(tiny_weights), "--images", str(photos), "--set", "heldout"])
    assert result.exit_code == 2, result.output
    assert "the LiteRT GPU delegate cannot run it: hybrid int8-weight CONV_2D x" in result.stderr
    assert not list((tmp_path / "out").glob("*.tflite*")) and not (tmp_path / "out" / "manifest.json").exists()


def test_int8_sensitivity_is_measured_and_recorded(tmp_path, photos, sample_clean):
    """The search on the bundled compact weights: every group measured (mean and worst crop), the worst kept in float
    until both drops are half the gate, recorded in the manifest; the export it chose is then gated like any other (the verdict and the
    exit code follow the gate's bounds, recomputed here from the recorded numbers)."""
    result = runner.invoke(
        app,
        [
            "export",
            "--format",
            "onnx",
            "--precision",
            "int8",
            "--tile",
            "16",
            "-o",
            str(tmp_path),
            "--weights",
            str(require_weights("compact")),
            "--images",
            str(photos),
            "--set",
            "heldout",
            "--calibration",
            str(sample_clean.parent / "calibration"),
            "--no-z-variant",
            "--sensitivity",
        ],
    )
    (entry,) = json.loads((tmp_path / "manifest.json").read_text())["artifacts"]
    p, gate = entry["parity"], GATES["int8"]
    meets = p["drop_db"] <= gate.max_drop_db and p["drop_worst_db"] <= gate.max_drop_worst_db
    meets = meets and p["max_abs_err"] <= gate.max_abs_err
    assert entry["gate"]["status"] == ("pass" if meets else "fail"), entry["gate"]
    assert result.exit_code == (0 if meets else 1), result.output
    assert p["drop_db"] < 2 * gate.max_drop_db, result.output  # the search's choice is near the gate, not far off
    sens = entry["sensitivity"]
    # one row per quantizable group of the compact net: 2 scales x 4 blocks x (F, G, H), the Haar convs, ...
    groups = [row["group"] for row in sens["layers"]]
    assert {f"model.scales.{s}.blocks.{b}.{n}" for s in (0, 1) for b in range(4) for n in "FGH"} <= set(groups)
    target = (gate.max_drop_db / 2, gate.max_drop_worst_db / 2)  # half the gate: the mean and the worst crop
    fits = sens["chosen_drop_db"] <= target[0] and sens["chosen_worst_db"] <= target[1]
    assert fits or len(sens["keep_float"]) == len(groups)
    assert sens["crops"] > 8  # the photo crops and the generated stress crops
    over = [max(row["drop_db"] / target[0], row["worst_db"] / target[1]) for row in sens["layers"]]
    assert over == sorted(over, reverse=True) and all(np.isfinite(over))  # ranked by how far past the target
    assert all(row["worst_db"] >= row["drop_db"] - 1e-4 for row in sens["layers"])  # the worst crop is no better
    first = {"kept_float": 0, "drop_db": sens["all_int8_drop_db"], "worst_db": sens["all_int8_worst_db"]}
    assert sens["tried"][0] == first
    assert entry["keep_float"] == sens["keep_float"]
    assert "| layer group |" in result.output


def test_export_needs_a_choice(tmp_path):
    result = runner.invoke(app, ["export", "-o", str(tmp_path)])
    assert result.exit_code != 0 and "say what to export" in result.stderr
    result = runner.invoke(app, ["export", "--format", "onnx", "--precision", "int4"])
    assert result.exit_code != 0 and "no precision 'int4'" in result.stderr
    np.testing.assert_equal(list(tmp_path.iterdir()), [])


def test_coreml_structural_validation_catches_a_wrong_contract(tmp_path, tiny_weights, photos, sample_clean):
    """Beside the evaluator, the spec check: it must fail when the file and the manifest disagree."""
    from invdn_mobile.export.coreml import validate

    out = tmp_path / "out"
    result = _export("coreml", "fp16", out, tiny_weights, photos, sample_clean)
    assert result.exit_code == 0, result.output
    manifest = json.loads((out / "manifest.json").read_text())["artifacts"]
    image_entry, tensor_entry = manifest
    path = out / image_entry["file"]
    assert path.is_dir() and (path / "Manifest.json").is_file()  # a real .mlpackage folder
    assert validate(path, image_entry) == []
    assert image_entry["min_deployment_target"] == "iOS16" and image_entry["inputs"][0]["dtype"] == "image"
    assert validate(out / tensor_entry["file"], tensor_entry) == []
    # an FP16 program for iOS16 takes and gives float16 arrays, and the manifest says so
    assert [io["dtype"] for io in tensor_entry["inputs"] + tensor_entry["outputs"]] == ["float16"] * 3
    wrong = json.loads(json.dumps(tensor_entry))
    wrong["inputs"][1]["shape"] = [1, 45, TILE // 2, TILE // 2]
    wrong["outputs"][0]["dtype"] = "float32"
    assert validate(out / tensor_entry["file"], wrong) == [
        f"z: want a {wrong['inputs'][1]['shape']} tensor, got multiArrayType",
        "denoised: the program says float16, the manifest float32",
    ]
    assert validate(path, tensor_entry)  # the image artifact is not the tensor contract


def test_manifest_keeps_one_entry_per_artifact(tmp_path):
    """A re-export replaces its artifact's entry, also when the earlier one was rejected (and the other way)."""
    from invdn_mobile.export.manifest import read_manifest, write_manifest

    write_manifest(tmp_path, [{"file": "a.onnx.rejected", "n": 1}, {"file": "b.onnx", "n": 1}])
    write_manifest(tmp_path, [{"file": "a.onnx", "n": 2}])
    assert sorted((e["file"], e["n"]) for e in read_manifest(tmp_path)) == [("a.onnx", 2), ("b.onnx", 1)]
    write_manifest(tmp_path, [{"file": "b.onnx.rejected", "n": 3}])
    assert sorted((e["file"], e["n"]) for e in read_manifest(tmp_path)) == [("a.onnx", 2), ("b.onnx.rejected", 3)]


def test_manifest_carries_its_contract_version_and_refuses_another(tmp_path):
    """The apps check the top-level ``version`` (1); a manifest of another version, or not a manifest at all, is one
    clear error, while one written before the field existed still reads as version 1."""
    from invdn_mobile.errors import InvdnError
    from invdn_mobile.export.manifest import read_manifest, write_manifest

    path = write_manifest(tmp_path, [{"file": "a.onnx"}])
    assert json.loads(path.read_text())["version"] == 1
    path.write_text(json.dumps({"artifacts": [{"file": "a.onnx"}]}))
    assert read_manifest(tmp_path) == [{"file": "a.onnx"}]
    for text, message in (
        (json.dumps({"version": 2, "artifacts": []}), "manifest version 2, this invdn reads version 1"),
        ("[1, 2]", "malformed manifest"),
        ("{not json", "malformed manifest"),
    ):
        path.write_text(text)
        with pytest.raises(InvdnError, match=message):
            read_manifest(tmp_path)


SHIPPED_INT8 = sorted(t.name for t in load_targets().values() if t.in_all and t.precision.startswith("int8"))


def test_every_int8_recipe_left_out_of_export_all_says_why_in_its_manifest(tmp_path, tiny_weights, photos):
    """A recipe that cannot meet the INT8 gate is left out of `export all` with the reason in the recipe, and an
    export by name records that reason in the manifest (docs/int8.md has the measurements)."""
    left = {n: t for n, t in load_targets().items() if t.precision.startswith("int8") and not t.in_all}
    assert left and all("docs/int8.md" in t.left_out for t in left.values()), {n: t.left_out for n, t in left.items()}
    name = "android-cpu-int8"  # a small static-INT8 file: quick to export
    out = tmp_path / "out"
    args = ["export", name, "--tile", "16", "-o", str(out), "--weights", str(tiny_weights), "--no-z-variant"]
    runner.invoke(app, [*args, "--images", str(photos), "--set", "heldout"])
    (entry,) = json.loads((out / "manifest.json").read_text())["artifacts"]
    assert entry["not_in_export_all"] == left[name].left_out


@pytest.mark.parametrize("name", SHIPPED_INT8 or ["(none ships)"])
def test_every_shipped_int8_recipe_passes_its_gate(name, tmp_path, photos):
    """Each INT8 recipe that `export all` ships, exported as written (every variant it lists; its measured
    keep_float, full-integer scheme and rewrites) with the bundled weights at a small tile, executed on held-out
    crops and the stress photos, must pass its gate: exit 0, every artifact `pass`, nothing rejected. (With none in
    `export all`, the README's table and docs/int8.md must say so: checked by the recipes' reasons below.)"""
    if name == "(none ships)":
        assert not SHIPPED_INT8 and "none is in `invdn export all`" in (ROOT / "docs" / "int8.md").read_text()
        return
    require_weights("compact")
    out = tmp_path / "out"
    result = runner.invoke(app, ["export", name, "--tile", str(TILE), "-o", str(out), "--images", str(photos)])
    manifests = sorted(out.glob("**/manifest.json"))
    entries = [e for m in manifests for e in json.loads(m.read_text())["artifacts"]]
    assert entries, result.output
    assert [e["gate"]["status"] for e in entries] == ["pass"] * len(entries), result.output
    assert result.exit_code == 0, result.output
    assert not list(out.glob("**/*.rejected"))
    gate = GATES[entries[0]["precision"]]
    for e in entries:  # the gate's bounds, read again from the recorded numbers, on both sets
        p = e["parity"]
        assert p["photos"].endswith("stress (18 photos)") and p["cases"] == 2 * (2 + 18)
        assert p["drop_db"] <= gate.max_drop_db and p["drop_worst_db"] <= gate.max_drop_worst_db
        assert p["max_abs_err"] <= gate.max_abs_err


def test_export_exits_non_zero_when_an_artifact_could_not_be_executed(tmp_path, tiny_weights, photos, monkeypatch):
    """Unverified (nothing here could run it) is not a pass: `invdn export` exits 1 unless --allow-unverified. The
    format's runtime is taken away for the test, as on a machine without it."""
    import dataclasses

    monkeypatch.setitem(FORMATS, "onnx", dataclasses.replace(FORMATS["onnx"], runtime="", why_not_run="no ORT here"))
    args = ["export", "--format", "onnx", "--precision", "fp32", "--tile", "16", "--no-z-variant"]
    args += ["--weights", str(tiny_weights), "--images", str(photos), "--set", "heldout"]
    result = runner.invoke(app, [*args, "-o", str(tmp_path / "a")])
    assert result.exit_code == 1 and "status: 0 pass, 0 fail, 1 unverified" in result.stdout, result.output
    assert "1 artifact(s) could not be executed here (unverified; --allow-unverified accepts that)" in result.stderr
    result = runner.invoke(app, [*args, "-o", str(tmp_path / "b"), "--allow-unverified"])
    assert result.exit_code == 0 and "status: 0 pass, 0 fail, 1 unverified" in result.stdout, result.output


def test_an_artifact_its_runtime_cannot_load_fails(tmp_path, tiny_weights, photos, sample_clean):
    """A file that is no longer a model (truncated) is `fail` — its runtime refuses it — not unverified."""
    out = tmp_path / "out"
    assert _export("onnx", "fp32", out, tiny_weights, photos, sample_clean).exit_code == 0
    path = out / f"invdn-custom-{TILE}-fp32.onnx"
    path.write_bytes(path.read_bytes()[:1000])
    result = runner.invoke(
        app, ["parity", str(path), "--images", str(photos), "--set", "heldout", "--weights", str(tiny_weights)]
    )
    assert result.exit_code == 1 and "its runtime cannot load it" in result.stdout, result.output
    assert "status: 0 pass, 1 fail, 0 unverified" in result.stdout
