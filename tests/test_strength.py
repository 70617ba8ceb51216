"""Noise-adaptive strength: the least-squares blend, the curve fit, calibration on real weights, and the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from invdn_mobile.cli.main import app
from invdn_mobile.errors import InvdnError
from invdn_mobile.imageio import read_image
from invdn_mobile.model.checkpoint import read_meta, sidecar
from invdn_mobile.strength import (
    StrengthCurve,
    blend,
    calibrate,
    calibration_crops,
    estimate_sigma,
    fit_curve,
    optimal_strength,
    parse_scales,
    resolve,
)

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def test_optimal_strength_is_the_least_squares_blend():
    rng = np.random.default_rng(1)
    clean = rng.random((40, 50, 3)).astype(np.float32)
    noisy = clean + rng.normal(0, 0.1, clean.shape).astype(np.float32)
    for s in (0.0, 0.25, 0.8):
        # an output that overshoots the clean image by 1/s: the blend at s lands exactly on it
        denoised = noisy + (clean - noisy) / max(s, 1e-3) if s else noisy + rng.normal(0, 0.1, clean.shape)
        got = optimal_strength(clean, noisy, denoised.astype(np.float32))
        assert got == pytest.approx(s, abs=0.02)
        best = np.mean((blend(noisy, denoised, got) - clean) ** 2)
        for other in (max(got - 0.1, 0), min(got + 0.1, 1)):
            assert best <= np.mean((blend(noisy, denoised, other) - clean) ** 2) + 1e-12
    assert optimal_strength(clean, noisy, clean) == pytest.approx(1.0)
    assert optimal_strength(clean, noisy, noisy) == 1.0  # nothing to blend: the model's output


def test_fit_curve_is_monotone_clipped_and_interpolates():
    rng = np.random.default_rng(0)
    sigmas = rng.uniform(0, 30, 600)
    truth = np.clip((sigmas - 3) / 10, 0, 1)
    curve = fit_curve(sigmas, truth + rng.normal(0, 0.05, sigmas.shape))
    assert all(b >= a for a, b in zip(curve.strength, curve.strength[1:]))
    assert all(0 <= s <= 1 for s in curve.strength)
    for x in (0.0, 5.0, 8.0, 20.0):
        assert curve(x) == pytest.approx(np.clip((x - 3) / 10, 0, 1), abs=0.08)
    assert curve(-5) == curve.strength[0] and curve(1000) == curve.strength[-1]  # flat beyond the ends
    # a violating bump is pooled away, data beyond 1 clipped; knots far from any sample are dropped
    bumpy = fit_curve([1, 1, 5, 5, 9, 9], [0.5, 0.5, 0.1, 0.1, 1.4, 1.4])
    assert all(b >= a for a, b in zip(bumpy.strength, bumpy.strength[1:])) and max(bumpy.strength) == 1.0
    assert max(bumpy.sigma) <= 12 and min(bumpy.sigma) == 0
    with pytest.raises(InvdnError, match="no calibration samples"):
        fit_curve([], [])


def test_curve_round_trips_and_rejects_bad_metadata():
    curve = StrengthCurve((0.0, 5.0, 10.0), (0.1, 0.5, 1.0))
    again = StrengthCurve.from_dict(json.loads(json.dumps(curve.to_dict())), "x")
    assert again.sigma == curve.sigma and again.strength == curve.strength
    assert again(2.5) == pytest.approx(0.3)
    for bad, why in [
        ([1, 2], "must be an object"),
        ({"sigma": [0, 1], "strength": [0.5]}, "same length"),
        ({"sigma": [0, 0], "strength": [0.5, 0.6]}, "increasing"),
        ({"sigma": [0, 1], "strength": [0.5, 1.5]}, r"strength\.1 = 1\.5: must be less than or equal to 1"),
        ({"sigma": [0, "a"], "strength": [0.5, 0.6]}, "sigma.1 = 'a': must be a valid number"),
        ({"sigma": [0, float("nan")], "strength": [0.5, 0.6]}, "sigma.1 = nan: must be a finite number"),
        ({"sigma": [0], "strength": [1], "estimator": "other"}, "estimator = 'other': is not"),
        ({"sigma": [], "strength": []}, "sigma = \\[\\]: List should have at least 1 item"),
    ]:
        with pytest.raises(InvdnError, match=why):
            StrengthCurve.from_dict(bad, "w.json")


def test_weights_with_a_bad_strength_curve_fail_to_load_with_one_line(tmp_path, tiny_weights, sample_clean):
    weights = tmp_path / "w.safetensors"
    weights.write_bytes(tiny_weights.read_bytes())
    meta = json.loads(sidecar(tiny_weights).read_text())
    sidecar(weights).write_text(json.dumps(meta | {"strength": {"sigma": [0, 5], "strength": [0.2, 7]}}))
    why = r"w\.json: weights metadata: strength\.strength\.1 = 7: must be less than or equal to 1"
    with pytest.raises(InvdnError, match=why):
        read_meta(weights)
    result = invoke("denoise", sample_clean / "cups.png", "-o", tmp_path / "out", "--weights", weights)
    assert result.exit_code != 0 and len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_calibration_crops_at_several_scales(sample_clean):
    files = sorted(sample_clean.iterdir())
    crops = calibration_crops(files, 64, 2, seed=3, scales=parse_scales("1,0.5,0.1"))
    assert len(crops) == len(files) * 3 * 2
    sizes = {p.name: read_image(p).rgb.shape[:2] for p in files}
    for name, crop in crops:
        photo, rest = name.split("@")
        scale = float(rest.split("#")[0])
        h, w = round(sizes[photo][0] * scale), round(sizes[photo][1] * scale)
        assert crop.shape == (min(64, h), min(64, w), 3) and crop.dtype == np.float32
    # area-downscaled crops hold more detail per pixel, which biases the noise estimate up
    by_scale = {sc: np.mean([estimate_sigma(c) for n, c in crops if f"@{sc}#" in n]) for sc in ("1", "0.5")}
    assert by_scale["0.5"] > by_scale["1"]
    ((a_name, a),) = calibration_crops(files[:1], 64, 1, seed=3)
    ((b_name, b),) = calibration_crops(files[:1], 64, 1, seed=3, scales=[1.0])
    assert a_name == b_name and np.array_equal(a, b)
    for bad in ("", "0", "1.5", "a,1", "-0.5"):
        with pytest.raises(InvdnError, match="--scales must be comma-separated numbers in"):
            parse_scales(bad)


def test_resolve_strength_option():
    curve = StrengthCurve((0.0, 10.0), (0.0, 1.0))
    assert resolve("auto", curve) is curve and resolve("AUTO", None) is None
    assert resolve("1", curve) is None and resolve("0.25", curve)(99.0) == 0.25
    for bad in ("2", "-0.1", "nan", "half"):
        with pytest.raises(InvdnError, match="--strength must be auto or a number from 0 to 1"):
            resolve(bad, curve)


def test_calibration_of_the_bundled_compact_weights_keeps_less_where_noise_is_low(sample_clean):
    """Real weights, real noise: on clean crops the model's change is mostly detail loss (low strength), under AWGN
    sigma 25 it is mostly noise removed (strength near 1; these crops: 0.81)."""
    from invdn_mobile.denoise import denoise_array, ensemble_fn, load_denoiser

    torch.manual_seed(0)
    denoiser, _ = load_denoiser(None, "compact", torch.device("cpu"))
    fn = ensemble_fn(denoiser)
    crops = calibration_crops(sorted(sample_clean.iterdir()), 96, 2, seed=0)
    assert len(crops) == 6 and all(c.shape == (96, 96, 3) for _, c in crops)
    curve, samples = calibrate(lambda x: denoise_array(x, fn, 0, 0, 4), crops, ["awgn:0", "awgn:25"])
    assert len(samples) == 12
    low = [s for s in samples if s["noise"] == "awgn:0"]
    high = [s for s in samples if s["noise"] == "awgn:25"]
    assert max(s["sigma"] for s in low) < 5 and min(s["sigma"] for s in high) > 15  # clipping lowers some
    low_mean, high_mean = np.mean([s["strength"] for s in low]), np.mean([s["strength"] for s in high])
    assert low_mean < 0.3 and high_mean > 0.7 and high_mean > low_mean + 0.4
    assert curve(0) < 0.3 and curve(25) > 0.7


def test_calibrate_command_writes_the_sidecar_and_denoise_applies_it(tmp_path, tiny_weights, sample_clean):
    weights = tmp_path / "w.safetensors"
    weights.write_bytes(tiny_weights.read_bytes())
    sidecar(weights).write_text(sidecar(tiny_weights).read_text())
    result = invoke(
        "calibrate", "--data", sample_clean, "--weights", weights, "--noise", "awgn:0", "--noise", "awgn:30",
        "--crop", "64", "--crops", "1", "--samples-json", tmp_path / "samples.json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("| estimated sigma | strength |")
    meta = read_meta(weights)
    curve = StrengthCurve.from_dict(meta["strength"], weights)
    assert meta["strength"]["calibration"]["photos"] == sorted(p.name for p in sample_clean.iterdir())
    assert meta["strength"]["calibration"]["scales"] == [1.0, 0.5, 0.25]  # the default
    assert len(json.loads((tmp_path / "samples.json").read_text())) == 3 * 3 * 2  # photos x scales x noises
    # the random tiny network only makes photos worse: it is kept at a low strength at every noise level
    assert curve(0.0) < 0.5

    photo = sample_clean / "cups.png"
    full = invoke("denoise", photo, "-o", tmp_path / "full", "--weights", weights, "--strength", "1")
    auto = invoke("denoise", photo, "-o", tmp_path / "auto", "--weights", weights)
    assert full.exit_code == 0 and auto.exit_code == 0, full.output + auto.output
    rgb = read_image(photo).rgb
    s = curve(estimate_sigma(rgb))
    notes = [line for line in auto.stderr.splitlines() if line.startswith("note:")]
    assert len(notes) == 1 and f"kept {s:.0%} of the model's change" in notes[0] and "cups.png" in notes[0]
    model_alone = read_image(tmp_path / "full" / "cups.png").rgb
    expected = np.clip(blend(rgb, model_alone, s), 0, 1)
    got = read_image(tmp_path / "auto" / "cups.png").rgb
    assert np.abs(got - expected).max() <= 1.01 / 255  # 8-bit rounding of the model-alone output, and of this one

    bad = invoke("denoise", photo, "-o", tmp_path / "bad", "--weights", weights, "--strength", "1.5")
    assert bad.exit_code != 0 and bad.stderr.strip().splitlines() == [
        "error: --strength must be auto or a number from 0 to 1, got '1.5'"
    ]
    assert not (tmp_path / "bad").exists()


def test_evaluate_reports_the_auto_strength_row(tmp_path, sample_clean, tiny_weights):
    from invdn_mobile.denoise import load_denoiser
    from invdn_mobile.evaluate.run import evaluate
    from invdn_mobile.metrics import PSNR_MAX
    from invdn_mobile.noise import make_noisy

    denoiser, _ = load_denoiser(tiny_weights, None, torch.device("cpu"))
    curve = StrengthCurve((0.0, 3.0, 10.0, 20.0), (0.0, 0.0, 0.5, 1.0))
    rows = evaluate(sample_clean, ["awgn:0", "awgn:30"], denoiser, baselines=[], tile=0, limit=1, strength=curve)
    by = {(r.method, r.noise): r for r in rows}
    # without noise (estimated sigma < 3) the curve keeps the input: invdn-auto is the noisy input itself ...
    assert by[("invdn-auto", "awgn:0")].psnr == by[("noisy", "awgn:0")].psnr == PSNR_MAX
    assert by[("invdn", "awgn:0")].psnr < 40
    # ... and at sigma 30 it is the model alone
    assert by[("invdn-auto", "awgn:30")].psnr == pytest.approx(by[("invdn", "awgn:30")].psnr, abs=1e-9)
    clean = read_image(sorted(sample_clean.iterdir())[0]).rgb
    assert estimate_sigma(make_noisy(clean, "awgn:30", 1000)) > 20
    result = invoke("evaluate", "--data", sample_clean, "--noise", "awgn:5", "--weights", tiny_weights,
                    "--baselines", "", "--auto-strength", "--limit", "1")  # fmt: skip
    assert result.exit_code != 0 and result.stderr.splitlines() == [
        "error: --auto-strength: these weights have no strength curve; fit one with `invdn calibrate`"
    ]
