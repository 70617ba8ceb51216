import json

import pytest
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


def test_every_method_is_scored_on_the_same_seeded_noisy_image_and_tta_averages_eight_views(
    sample_clean, tmp_path, tiny_weights
):
    """Each row is recomputed here from one noisy copy (the documented seed: seed + 1000 * noise index + photo index):
    the noisy row, NLM on it, the single pass and the x8 ensemble (--tta), which is the mean of the model on the 8
    flips/rotations of the photo, undone — computed here with numpy, not with the ensemble code."""
    import numpy as np
    import torch
    from PIL import Image

    from invdn_mobile.denoise import load_denoiser
    from invdn_mobile.evaluate.baselines import run_baseline
    from invdn_mobile.imageio import read_image
    from invdn_mobile.metrics import psnr
    from invdn_mobile.noise import make_noisy

    Image.open(sample_clean / "cups.png").crop((0, 0, 64, 48)).save(tmp_path / "c.png")
    denoiser, _ = load_denoiser(tiny_weights, None, torch.device("cpu"))
    rows = evaluate(tmp_path, ["awgn:20", "camera:iso1600"], denoiser, tta=True, baselines=["nlm"], tile=0)
    got = {(r.method, r.noise): r.psnr for r in rows}
    clean = read_image(tmp_path / "c.png").rgb
    for n_index, spec in enumerate(["awgn:20", "camera:iso1600"]):
        noisy = make_noisy(clean, spec, 1000 * n_index)
        assert got[("noisy", spec)] == psnr(clean, noisy)
        assert got[("nlm", spec)] == psnr(clean, run_baseline("nlm", noisy, float(np.std(noisy - clean))))
        x = torch.from_numpy(noisy.transpose(2, 0, 1).copy())[None]
        with torch.no_grad():
            single = denoiser(x, denoiser.z_for(48, 64, denoiser.seed))[0].numpy().transpose(1, 2, 0)
            views = []
            for k in range(4):
                for flip in (False, True):
                    v = np.rot90(noisy, k)
                    v = v[:, ::-1] if flip else v
                    xv = torch.from_numpy(np.ascontiguousarray(v.transpose(2, 0, 1)))[None]
                    out = denoiser(xv, denoiser.z_for(v.shape[0], v.shape[1], denoiser.seed))[0].numpy()
                    out = out.transpose(1, 2, 0)
                    out = out[:, ::-1] if flip else out
                    views.append(np.rot90(out, -k))
        assert got[("invdn", spec)] == pytest.approx(psnr(clean, single), abs=1e-4)
        assert got[("invdn-x8", spec)] == pytest.approx(psnr(clean, np.mean(views, axis=0)), abs=1e-4)
        assert abs(got[("invdn-x8", spec)] - got[("invdn", spec)]) > 1e-3  # the eight views really differ


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
