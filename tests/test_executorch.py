"""ExecuTorch: a ``.pte`` lowered to XNNPACK, executed by ExecuTorch's runtime and held to the FP32 gate; a program
that computes something else fails it; the manifest says which ops XNNPACK took; results of ExecuTorch's benchmark
apps are mapped into the results schema (or refused with one line)."""

import json
import os

import numpy as np
import pytest
import torch
from conftest import require_module
from typer.testing import CliRunner

from invdn_mobile.bench.run import ingest
from invdn_mobile.cli.main import app

runner = CliRunner()
TILE = 64


@pytest.fixture(scope="module")
def fp32_export(tmp_path_factory, tiny_weights, photos, sample_clean):
    require_module("executorch")
    out = tmp_path_factory.mktemp("et") / "out"
    result = runner.invoke(
        app,
        ["export", "--format", "executorch", "--precision", "fp32", "--tile", str(TILE), "-o", str(out),
         "--weights", str(tiny_weights), "--images", str(photos), "--set", "heldout"],
    )  # fmt: skip
    return out, result


def test_fp32_program_is_executed_and_passes(fp32_export):
    out, result = fp32_export
    assert result.exit_code == 0, result.output
    entries = json.loads((out / "manifest.json").read_text())["artifacts"]
    assert [e["file"] for e in entries] == [f"invdn-custom-{TILE}-fp32.pte", f"invdn-custom-{TILE}-fp32-zin.pte"]
    for entry in entries:
        p = entry["parity"]
        assert p["evaluator"] == "executorch-xnnpack" and p["cases"] == 4 and p["status"] == "pass"
        assert p["max_abs_err"] <= 1e-5  # the bar for FP32 (the project gate is 1e-4)
        # read back from the program: every convolution delegated to XNNPACK, nothing left on portable kernels
        delegated = entry["delegation"]["delegated"]["xnnpack"]
        assert delegated["Conv2d"] > 0 and entry["delegation"]["portable"] == {}
        assert entry["ops"]["xnnpack:Conv2d"] == delegated["Conv2d"]
        # MACs counted on the program's XNNPACK subgraph match PyTorch's count exactly (same convolutions)
        assert entry["macs"]["graph"] == entry["macs"]["torch_denoiser"]
        assert entry["macs"]["by_input_type"] == {"float32": entry["macs"]["graph"]}
        assert entry["tools"]["executorch"] and entry["layout"] == "NCHW"


def test_runner_matches_pytorch_on_a_batch(fp32_export, tiny_weights):
    """The runner's batch loop: two different tiles come back as PyTorch's two outputs (not the last one twice)."""
    from invdn_mobile.denoise import load_denoiser
    from invdn_mobile.export.run import open_artifact

    out, _ = fp32_export
    run, entry = open_artifact(out / f"invdn-custom-{TILE}-fp32.pte", threads=1)
    x = np.random.default_rng(0).random((2, 3, TILE, TILE), dtype=np.float32)
    denoiser, _ = load_denoiser(tiny_weights, None, torch.device("cpu"))
    with torch.no_grad():
        want = torch.stack([denoiser(torch.from_numpy(t[None]))[0] for t in x]).numpy()
    got = run.run(x)
    assert got.shape == x.shape and np.abs(got - want).max() <= 1e-5
    assert np.abs(got[0] - got[1]).max() > 1e-3


def test_a_program_with_a_scaled_weight_fails_its_gate(fp32_export, tiny_weights, photos, tmp_path):
    """Replace the artifact by a program exported from the same network with one convolution's weights x1.5: the
    manifest is unchanged, the executed parity fails and says so."""
    from invdn_mobile.denoise import load_denoiser
    from invdn_mobile.export import executorch
    from invdn_mobile.model import Denoiser

    out, _ = fp32_export
    broken = tmp_path / "broken"
    broken.mkdir()
    name = f"invdn-custom-{TILE}-fp32.pte"
    entries = json.loads((out / "manifest.json").read_text())["artifacts"]
    (broken / "manifest.json").write_text(json.dumps({"version": 1, "artifacts": [entries[0]]}))
    denoiser, _ = load_denoiser(tiny_weights, None, torch.device("cpu"))
    conv = next(m for m in denoiser.model.modules() if isinstance(m, torch.nn.Conv2d))
    with torch.no_grad():
        conv.weight.mul_(1.5)
    model = Denoiser(denoiser.model, tile=(TILE, TILE), seed=entries[0]["z"]["seed"], z_scale=entries[0]["z"]["scale"])
    executorch.export(model, "fp32", TILE, broken / name)
    result = runner.invoke(
        app, ["parity", str(broken / name), "--images", str(photos), "--set", "heldout", "--weights", str(tiny_weights)]
    )
    assert result.exit_code == 1, result.output
    assert "| fail: max abs error" in result.stdout and "status: 0 pass, 1 fail, 0 unverified" in result.stdout


# --- ExecuTorch benchmark apps' results (Android Minibench / Apple benchmark app) ---


def _record(name, metric, value, os_name="Android 14"):
    """One metric record as the apps write it (benchmarkModel, metric, actualValue, targetValue, deviceInfo)."""
    return {
        "benchmarkModel": {"name": name, "backend": "", "quantization": ""},
        "metric": metric,
        "actualValue": value,
        "targetValue": 0.0,
        "deviceInfo": {"device": "Google", "arch": "Pixel 8a", "os": os_name, "totalMem": 8e9, "availMem": 3e9},
    }


def _app_file(tmp_path, records):
    path = tmp_path / "benchmark_results.json"
    path.write_text(json.dumps(records))
    os.utime(path, (1_796_000_000, 1_796_000_000))
    return path


def test_ingest_maps_the_benchmark_apps_results(tmp_path):
    records = [
        _record("invdn-compact-256-fp32", "avg_inference_latency(ms)", 52.5),
        _record("invdn-compact-256-fp32", "trimmean_inference_latency(ms)", 50.25),
        _record("invdn-compact-256-fp32", "model_load_time(ms)", 31.0),
        _record("invdn-compact-256-fp32", "load_status", 0),
        _record("invdn-compact-256-int8", "avg_inference_latency(ms)", 30.0),
        _record("invdn-compact-256-int8", "load_status", 0),
        _record("invdn-paper-256-fp32", "load_status", 22),
    ]
    added = ingest(_app_file(tmp_path, records), tmp_path / "results", cores=8, soc="Tensor G3")
    doc = json.loads(added.read_text())
    assert doc["source"] == "executorch_app" and added.name == "google-pixel-8a-2026-11-30.json"
    assert doc["machine"]["cpu"] == "Tensor G3" and doc["machine"]["device_model"] == "Pixel 8a"
    assert (doc["machine"]["cores"], doc["machine"]["os"], doc["machine"]["kind"]) == (8, "Android 14", "phone")
    rows = {(r["artifact"]): r for r in doc["rows"]}
    fp32 = rows["invdn-compact-256-fp32.pte"]
    assert (fp32["backend"], fp32["format"], fp32["precision"], fp32["size"]) == (
        "executorch-xnnpack", "executorch", "fp32", "256x256"
    )  # fmt: skip
    assert fp32["median_ms"] == 50.25 and fp32["status"] == "ok"  # the trimmed mean where the app wrote one
    assert rows["invdn-compact-256-int8.pte"]["median_ms"] == 30.0
    failed = rows["invdn-paper-256-fp32.pte"]
    assert failed["status"] == "failed" and failed["median_ms"] is None and "load_status 22" in failed["error"]


@pytest.mark.parametrize(
    "records,args,message",
    [
        ([_record("invdn-compact-256-fp32", "avg_inference_latency(ms)", 50.0)], [], "pass --cores N"),
        (
            [{k: v for k, v in _record("invdn-compact-256-fp32", "x", 1.0).items() if k != "actualValue"}],
            ["--cores", "8"],
            "record 0: 'actualValue' missing",
        ),
        ([_record("mv2_xnnpack_q8", "avg_inference_latency(ms)", 5.0)], ["--cores", "8"], "not an invdn artifact"),
        (
            [
                _record("invdn-compact-256-fp32", "load_status", 0, "Android 14"),
                {
                    **_record("invdn-compact-256-fp32", "avg_inference_latency(ms)", 1.0),
                    "deviceInfo": {"device": "Apple", "arch": "iPhone 15", "os": "iOS 18"},
                },
            ],
            ["--cores", "6"],
            "a second device",
        ),
    ],
)
def test_ingest_refuses_a_malformed_app_file(tmp_path, records, args, message):
    path = _app_file(tmp_path, records)
    results = tmp_path / "results"
    result = runner.invoke(app, ["bench", "ingest", str(path), "--results", str(results), *args])
    assert result.exit_code != 0
    assert result.output.strip().startswith("error: ") and len(result.output.strip().splitlines()) == 1
    assert message in result.output
    assert not results.exists() or not list(results.iterdir())


def test_int8_search_groups_cover_every_convolution(tiny_weights):
    """The sensitivity hooks: every convolution (forward and reverse pass, the Haar inverse included) belongs to one
    named group; keeping every group in float gives back the float network exactly, quantizing all of them does not."""
    require_module("executorch")
    from invdn_mobile.denoise import load_denoiser
    from invdn_mobile.export import executorch
    from invdn_mobile.export.photos import calibration_data
    from invdn_mobile.model import Denoiser

    denoiser, _ = load_denoiser(tiny_weights, None, torch.device("cpu"))
    model = executorch.fp32_model(Denoiser(denoiser.model, tile=(16, 16)).eval(), 16)
    groups = executorch.layer_groups(model)
    assert all(groups) and any(label.endswith("haar") for label in groups)
    patterns = [p for pats in groups.values() for p in pats]
    convs = [n for n in model.graph.graph.nodes if n.op == "call_function" and "conv" in str(n.target)]
    assert convs and all(executorch._keeps_float(n, patterns) for n in convs)
    calib = calibration_data(None, 16, 2, None)
    x = calib[0]["image"]
    want = executorch.run_model(model, x)
    assert np.array_equal(executorch.run_model(executorch.quantize_int8(model, calib, patterns), x), want)
    assert np.abs(executorch.run_model(executorch.quantize_int8(model, calib, []), x) - want).max() > 1e-4
