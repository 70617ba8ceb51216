import json

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from invdn_mobile.cli.main import app

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def test_info_json_paper():
    result = invoke("info", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["variant"] == "paper" and data["size"] == [256, 256]
    assert abs(data["params"] - 2.64e6) / 2.64e6 <= 0.01
    assert 44e9 <= data["macs"]["denoiser"] <= 48e9
    assert all(isinstance(v, int) for v in data["macs"].values())


def test_info_rejects_bad_size():
    result = invoke("info", "--size", "255x256")
    assert result.exit_code != 0
    assert "multiples of 4" in result.stderr


def test_denoise_odd_size_keeps_size(tmp_path, tiny_weights):
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (199, 301, 3), dtype=np.uint8)).save(tmp_path / "odd.jpg")
    out = tmp_path / "out"
    result = invoke("denoise", tmp_path / "odd.jpg", "-o", out, "--weights", tiny_weights, "--tile", "64")
    assert result.exit_code == 0, result.output
    assert Image.open(out / "odd.png").size == (301, 199)


def test_denoise_whole_photo_and_ensembles(tmp_path, tiny_weights, sample_noisy):
    out = tmp_path / "out"
    photo = sample_noisy / "sunset.png"
    base = invoke("denoise", photo, "-o", out / "a", "--weights", tiny_weights, "--tile", "0")
    mc = invoke("denoise", photo, "-o", out / "b", "--weights", tiny_weights, "--tile", "0", "--samples", "3")
    again = invoke("denoise", photo, "-o", out / "c", "--weights", tiny_weights, "--tile", "0")
    assert base.exit_code == mc.exit_code == again.exit_code == 0
    a, b, c = (np.asarray(Image.open(out / d / "sunset.png")) for d in "abc")
    assert a.shape == np.asarray(Image.open(photo)).shape
    assert np.array_equal(a, c)  # same seed, same output
    assert not np.array_equal(a, b)  # the ensemble averages other z_HF samples


def test_denoise_bad_inputs_one_line_and_nothing_written(tmp_path, tiny_weights):
    (tmp_path / "fake.png").write_text("hello, I am text\n")
    out = tmp_path / "out"
    result = invoke("denoise", tmp_path / "fake.png", "-o", out, "--weights", tiny_weights)
    assert result.exit_code != 0
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "fake.png: not an image" in lines[0]
    assert "Traceback" not in result.output
    assert list(out.iterdir()) == []


def test_denoise_continues_after_a_failure(tmp_path, tiny_weights, sample_noisy):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    Image.open(sample_noisy / "cups.png").crop((0, 0, 96, 80)).save(tmp_path / "in" / "good.png")
    out = tmp_path / "out"
    result = invoke("denoise", tmp_path / "in", tmp_path / "nope.png", "-o", out, "--weights", tiny_weights)
    assert result.exit_code == 1
    assert sorted(p.name for p in out.iterdir()) == ["good.png"]
    assert "2 input(s) failed" in result.stdout and "nope.png: no such file" in result.stderr


def test_denoise_glob(tmp_path, tiny_weights, sample_noisy):
    for name in ("a", "b"):
        Image.open(sample_noisy / "cups.png").crop((0, 0, 64, 40)).save(tmp_path / f"{name}.png")
    out = tmp_path / "out"
    result = invoke("denoise", str(tmp_path / "*.png"), "-o", out, "--weights", tiny_weights)
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["a.png", "b.png"]


def test_denoise_without_weights_is_a_clear_error(tmp_path, monkeypatch):
    import invdn_mobile.model.checkpoint as checkpoint

    monkeypatch.setattr(checkpoint, "WEIGHTS_DIR", tmp_path / "none")
    result = invoke("denoise", "x.png", "-o", tmp_path / "out")
    assert result.exit_code != 0
    assert result.stderr.strip() == "error: no bundled weights for variant 'paper' in this install: pass --weights PATH"


def test_denoise_wrong_variant_weights(tmp_path, tiny_weights):
    result = invoke("denoise", "x.png", "-o", tmp_path, "--weights", tiny_weights, "--variant", "compact")
    assert result.exit_code != 0 and "error:" in result.stderr


@pytest.mark.parametrize("mode", ["16bit", "gray", "alpha"])
def test_denoise_keeps_format(tmp_path, tiny_weights, mode):
    import cv2

    rng = np.random.default_rng(3)
    path = tmp_path / "in.png"
    if mode == "16bit":
        cv2.imwrite(str(path), rng.integers(0, 65536, (40, 52, 3), dtype=np.uint16))
    elif mode == "gray":
        Image.fromarray(rng.integers(0, 256, (40, 52), dtype=np.uint8), "L").save(path)
    else:
        Image.fromarray(rng.integers(0, 256, (40, 52, 4), dtype=np.uint8), "RGBA").save(path)
    result = invoke("denoise", path, "-o", tmp_path / "out", "--weights", tiny_weights)
    assert result.exit_code == 0, result.output
    src = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    out = cv2.imread(str(tmp_path / "out" / "in.png"), cv2.IMREAD_UNCHANGED)
    assert out.dtype == src.dtype and out.shape == src.shape
    if mode == "alpha":
        np.testing.assert_array_equal(out[:, :, 3], src[:, :, 3])


def test_noise_command(tmp_path, sample_clean):
    result = invoke("noise", sample_clean / "cups.png", "-o", tmp_path, "--model", "awgn:25")
    assert result.exit_code == 0, result.output
    clean = np.asarray(Image.open(sample_clean / "cups.png"), np.float64)
    noisy = np.asarray(Image.open(tmp_path / "cups.png"), np.float64)
    assert 20 < np.std(noisy - clean) < 26  # sigma 25, less a little clipping
    bad = invoke("noise", sample_clean / "cups.png", "-o", tmp_path, "--model", "gauss:3")
    assert bad.exit_code != 0 and "unknown noise" in bad.stderr


def test_generate_noise_command(tmp_path, tiny_weights, sample_noisy):
    Image.open(sample_noisy / "cups.png").crop((0, 0, 64, 64)).save(tmp_path / "n.png")
    result = invoke(
        "generate-noise",
        tmp_path / "n.png",
        "-o",
        tmp_path / "gen",
        "--weights",
        tiny_weights,
        "--count",
        "2",
        "--epsilon",
        "0.5",
    )
    assert result.exit_code == 0, result.output
    a, b = (np.asarray(Image.open(tmp_path / "gen" / f"n-gen{k}.png"), np.float64) for k in (0, 1))
    src = np.asarray(Image.open(tmp_path / "n.png"), np.float64)
    assert a.shape == src.shape and not np.array_equal(a, b)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--data", "/nonexistent/photos"], "error: /nonexistent/photos: not a folder"),
        (["--config", "/nonexistent/c.toml"], "error: /nonexistent/c.toml: config file not found"),
    ],
)
def test_train_bad_input_is_one_line(tmp_path, args, message):
    result = invoke("train", "--out", tmp_path / "run", "--device", "cpu", *args)
    assert result.exit_code != 0
    assert result.stderr.strip() == message
    assert not (tmp_path / "run" / "last.pt").exists()
