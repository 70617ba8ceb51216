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
    assert not out.exists()  # nothing written: the output folder it made is gone again


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


def test_denoise_wrong_variant_weights(tmp_path, tiny_weights, sample_clean):
    """The tiny weights record no variant name (a custom network): --variant compact must still be refused, naming
    the file and what it holds, before any output is written."""
    photo = sample_clean / "cups.png"
    result = invoke("denoise", photo, "-o", tmp_path / "out", "--weights", tiny_weights, "--variant", "compact")
    one = result.stderr.strip()
    assert result.exit_code == 2 and one.count("\n") == 0
    assert one.startswith(f"error: {tiny_weights} holds a custom network") and one.endswith("not 'compact'"), one
    assert not (tmp_path / "out").exists()
    ok = invoke("denoise", photo, "-o", tmp_path / "out2", "--weights", tiny_weights, "--strength", "1")
    assert ok.exit_code == 0, ok.output  # the same file without --variant loads


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


def _digest(folder):
    import hashlib

    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_outputs_never_collide_nor_replace_inputs(tmp_path, tiny_weights, sample_noisy):
    src = Image.open(sample_noisy / "cups.png").crop((0, 0, 48, 40))
    folder = tmp_path / "in"
    folder.mkdir()
    src.save(folder / "a-2.png")
    src.convert("L").save(folder / "a.jpg")
    src.save(folder / "a.png")
    before = _digest(folder)
    result = invoke("denoise", folder, "-o", tmp_path / "out", "--weights", tiny_weights)
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a-2.png", "a-3.png", "a.png"]
    assert Image.open(tmp_path / "out" / "a-2.png").mode == "RGB"  # a-2.png's own result, not a.png's (gray)
    assert Image.open(tmp_path / "out" / "a.png").mode == "L"  # a.jpg's
    # Into the inputs' own folder: no file there is replaced (a-2.png is not an input of this run), names go on.
    result = invoke("denoise", folder / "a.jpg", folder / "a.png", "-o", folder, "--weights", tiny_weights)
    assert result.exit_code == 0, result.output
    after = _digest(folder)
    assert {k: after[k] for k in before} == before and set(after) - set(before) == {"a-3.png", "a-4.png"}
    # Elsewhere an input reached through a link is still never a target.
    (tmp_path / "link").mkdir()
    (tmp_path / "link" / "a.png").symlink_to(folder / "a.png")
    result = invoke("denoise", folder / "a.png", "-o", tmp_path / "link", "--weights", tiny_weights)
    assert result.exit_code == 1 and "would overwrite an input" in result.stderr
    assert _digest(folder)["a.png"] == before["a.png"]


def test_noise_on_grayscale_has_the_asked_sigma(tmp_path):
    flat = np.full((128, 128), 128, np.uint8)
    Image.fromarray(flat, "L").save(tmp_path / "gray.png")
    result = invoke("noise", tmp_path / "gray.png", "-o", tmp_path / "out", "--model", "awgn:25")
    assert result.exit_code == 0, result.output
    noisy = np.asarray(Image.open(tmp_path / "out" / "gray.png"), np.float64)
    assert noisy.ndim == 2 and 24 < np.std(noisy - 128) < 26


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["denoise", "--batch", "0"], "'--batch'"),
        (["denoise", "--tile", "1000000000"], "--tile must be a multiple of 4 from 4 to 4096"),
        (["denoise", "--tile", "64", "--overlap", "63"], "--overlap must be from 0 to half the tile (32)"),
        (["denoise", "--seed", str(2**64)], "'--seed'"),
        (["denoise", "--samples", "1000000000"], "'--samples'"),
        (["generate-noise", "--epsilon", "nan"], "--epsilon must be a finite number >= 0"),
        (["generate-noise", "--count", "0"], "'--count'"),
        (["generate-noise", "--tile", "-4"], "--tile must be a multiple of 4"),
    ],
)
def test_bad_options_are_refused_before_any_work(tmp_path, tiny_weights, sample_noisy, args, message):
    command, *options = args
    out = tmp_path / "out"
    result = invoke(command, sample_noisy / "cups.png", "-o", out, "--weights", tiny_weights, *options)
    assert result.exit_code == 2
    assert message in result.stderr and "Traceback" not in result.output
    assert not out.exists()


def test_output_folder_that_is_a_file(tmp_path, tiny_weights, sample_noisy):
    (tmp_path / "afile").write_text("x")
    for target, reason in [
        (tmp_path / "afile", "exists and is not a folder"),
        (tmp_path / "afile" / "sub", "a parent"),
    ]:
        result = invoke("noise", sample_noisy / "cups.png", "-o", target)
        assert result.exit_code == 2 and reason in result.stderr and len(result.stderr.splitlines()) == 1


def test_unforeseen_errors_are_one_line(tmp_path, tiny_weights, sample_noisy, monkeypatch):
    import invdn_mobile.denoise as denoise_module

    def broken(*args, **kwargs):
        raise RuntimeError("something deep broke\nwith a second line")

    monkeypatch.setattr(denoise_module, "denoise_file", broken)
    result = invoke("denoise", sample_noisy / "cups.png", "-o", tmp_path / "out", "--weights", tiny_weights)
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "error: internal error: RuntimeError: something deep broke (INVDN_DEBUG=1 shows the traceback)"
    ]
    assert not (tmp_path / "out").exists()


def test_low_noise_warning(tmp_path, tiny_weights, sample_clean, sample_noisy):
    from invdn_mobile.denoise import LOW_NOISE_SIGMA
    from invdn_mobile.strength import estimate_sigma

    rng = np.random.default_rng(0)
    smooth = np.clip(np.linspace(0.2, 0.8, 256)[None, :, None] + np.zeros((192, 1, 3)), 0, 1)
    for sigma in (5.0, 10.0, 25.0):
        assert estimate_sigma(smooth + rng.normal(0, sigma / 255, smooth.shape)) == pytest.approx(sigma, rel=0.08)
    assert estimate_sigma(smooth) < 0.5
    result = invoke(
        "denoise", sample_clean / "cups.png", sample_noisy / "cups.png", "-o", tmp_path, "--weights", tiny_weights
    )
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "clean/cups.png: little noise" in warnings[0]
    assert f"below about {LOW_NOISE_SIGMA:g}" in warnings[0]


def test_export_defaults_work_outside_the_checkout(tmp_path, monkeypatch):
    from pathlib import Path

    import invdn_mobile.export.photos as export_photos
    from invdn_mobile.errors import InvdnError
    from invdn_mobile.export.photos import sample_photos

    monkeypatch.chdir(tmp_path)  # no samples/ here: the checkout's are used
    assert sample_photos("clean").resolve() == (Path(__file__).resolve().parents[1] / "samples" / "clean")
    monkeypatch.setattr(export_photos, "__file__", str(tmp_path / "a" / "b" / "photos.py"))  # an install without them
    with pytest.raises(InvdnError, match="pass --calibration DIR"):
        sample_photos("calibration")


def test_broken_links_in_a_folder_are_reported(tmp_path, tiny_weights, sample_noisy):
    folder = tmp_path / "in"
    folder.mkdir()
    Image.open(sample_noisy / "cups.png").crop((0, 0, 32, 32)).save(folder / "good.png")
    (folder / "gone.png").symlink_to(tmp_path / "missing.png")
    result = invoke("denoise", folder, "-o", tmp_path / "out", "--weights", tiny_weights)
    assert result.exit_code == 1
    assert "gone.png: broken or looping symbolic link" in result.stderr
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["good.png"]


def test_qat_and_photos_are_typer_commands_with_one_line_errors(tmp_path, tiny_weights):
    """The former argparse entry points (export/qat.py, data/photos.py) are `invdn qat` and `invdn photos`."""
    result = invoke("qat", "-o", tmp_path / "q.safetensors", "--data", tmp_path / "none")
    assert result.exit_code == 2
    assert result.stderr.strip() == f"error: --data {tmp_path / 'none'}: not a folder of clean photos"
    result = invoke("qat", "-o", tmp_path / "q.safetensors", "--weights", tiny_weights, "--variant", "compact")
    assert result.exit_code == 2 and "holds a custom network" in result.stderr and "not 'compact'" in result.stderr
    assert not (tmp_path / "q.safetensors").exists()
    for command in ("qat", "photos"):
        assert invoke(command, "--help").exit_code == 0
