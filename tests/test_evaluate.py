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
