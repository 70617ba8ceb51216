import json

from typer.testing import CliRunner

from invdn_mobile.cli.main import app
from invdn_mobile.evaluate.run import evaluate


def test_evaluate_rows_on_real_photos(tmp_path, sample_clean, tiny_weights):
    from PIL import Image

    for p in sample_clean.iterdir():
        Image.open(p).crop((0, 0, 96, 72)).save(tmp_path / p.name)
    result = CliRunner().invoke(
        app,
        [
            "evaluate",
            "--data",
            str(tmp_path),
            "--noise",
            "awgn:25",
            "--noise",
            "camera:iso3200",
            "--weights",
            str(tiny_weights),
            "--json",
            "--tile",
            "0",
        ],
    )
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert {r["method"] for r in rows} == {"noisy", "invdn", "bm3d", "nlm"}
    assert all(set(r) == {"method", "noise", "psnr", "ssim", "images"} and r["images"] == 3 for r in rows)
    by = {(r["method"], r["noise"]): r for r in rows}
    assert 20.0 < by[("noisy", "awgn:25")]["psnr"] < 21.5  # sigma 25 -> 20.2 dB before clipping
    assert by[("bm3d", "awgn:25")]["psnr"] > by[("noisy", "awgn:25")]["psnr"] + 4
    assert by[("nlm", "awgn:25")]["psnr"] > by[("noisy", "awgn:25")]["psnr"] + 2


def test_evaluate_same_noisy_images_for_every_method(sample_clean, tmp_path):
    from PIL import Image

    Image.open(sample_clean / "cups.png").crop((0, 0, 64, 64)).save(tmp_path / "c.png")
    a = evaluate(tmp_path, ["camera:iso1600"], baselines=["nlm"])
    b = evaluate(tmp_path, ["camera:iso1600"], baselines=["nlm"])
    assert [r.to_dict() for r in a] == [r.to_dict() for r in b]


def test_frontier_measures_cost_and_quality_in_one_run(tmp_path, sample_clean):
    """The variant frontier: params and MACs counted, CPU latency timed, PSNR measured next to a baseline."""
    from invdn_mobile.bench.harness import Settings
    from invdn_mobile.evaluate import frontier as fr

    result = fr.frontier(
        sample_clean, ["awgn:25"], ["compact"], ["nlm"], tmp_path, Settings(warmup=0, repeats=2, min_repeats=1), limit=1
    )
    (point,) = result["variants"]
    assert point["params"] == 448_032 and 7.0 < point["gmacs_256"] < 8.0
    assert point["torch_eager_ms"] > 0 and point["fp32_ms"] is None  # no artifacts exported in tmp_path
    methods = {q["method"]: q for q in result["quality"]}
    assert set(methods) == {"noisy", "invdn-compact", "nlm"}
    assert methods["invdn-compact"]["psnr"] > methods["noisy"]["psnr"] + 2  # trained weights really denoise
    paths = fr.save(result, tmp_path / "frontier.json")
    assert "InvDN compact" in paths[1].read_text() and json.loads(paths[0].read_text())["variants"]


def test_frontier_times_only_artifacts_of_the_bundled_weights(tmp_path):
    """A real ONNX export of the bundled compact weights is timed; the same artifact recorded as exported from other
    weights (a stale export folder) is left out, so the frontier never pairs old gates with new weights."""
    from typer.testing import CliRunner

    from invdn_mobile.bench.harness import Settings
    from invdn_mobile.cli.main import app
    from invdn_mobile.evaluate import frontier as fr

    result = CliRunner().invoke(app, ["export", "onnx-fp32", "--variant", "compact", "-o", str(tmp_path / "onnx-fp32")])
    assert result.exit_code == 0, result.output
    fast = Settings(warmup=0, repeats=1, min_repeats=1, max_seconds=1)
    fresh = fr._latencies("compact", tmp_path, fast)
    assert fresh["fp32_ms"] > 0 and fresh["fp32_artifact"].startswith("onnx-fp32")
    manifest = tmp_path / "onnx-fp32" / "manifest.json"
    doc = json.loads(manifest.read_text())
    for entry in doc["artifacts"]:
        entry["weights"]["sha256"] = "0" * 64
    manifest.write_text(json.dumps(doc))
    stale = fr._latencies("compact", tmp_path, fast)
    assert stale["fp32_ms"] is None and stale["torch_eager_ms"] > 0


def test_psnr_of_identical_images_is_capped():
    import numpy as np

    from invdn_mobile.metrics import PSNR_MAX, psnr

    x = np.random.default_rng(0).random((16, 16, 3)).astype(np.float32)
    assert psnr(x, x) == PSNR_MAX
    y = x.copy()
    y[0, 0, 0] = 1.0 - y[0, 0, 0]
    assert 30 < psnr(x, y) < PSNR_MAX
