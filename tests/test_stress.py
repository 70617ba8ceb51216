"""The stress photos (issue 31): generated deterministically, kept apart from calibration, and able to catch an INT8
calibration whose ranges the held-out photos never test."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import require_weights

from invdn_mobile import stress
from invdn_mobile.errors import InvdnError
from invdn_mobile.export.fakequant import QuantSim
from invdn_mobile.export.photos import calibration_data
from invdn_mobile.gates import GATES
from invdn_mobile.model import Denoiser
from invdn_mobile.model.checkpoint import load_weights
from invdn_mobile.parity import gate_failures, in_domain, measure, parity_set

TILE = 32


@pytest.fixture(scope="module")
def compact():
    model, _ = load_weights(require_weights("compact"))
    return model


def test_generated_photos_are_seeded_8_bit_and_stress_what_they_say():
    a, b = stress.generated(0, 64), stress.generated(0, 64)
    assert [n for n, _ in a] == [f"stress-{g}-s0" for g in stress.GENERATORS]
    for (_, x), (_, y) in zip(a, b):
        assert x.shape == (64, 64, 3) and x.dtype == np.float32 and np.array_equal(x, y)
        assert np.array_equal(np.round(x * 255) / 255, x) and 0 <= x.min() and x.max() <= 1
    other = stress.generated(1, 64)
    assert all(not np.array_equal(x, y) for (_, x), (_, y) in zip(a, other))
    photos = dict(stress.generated(0))
    sat = photos["stress-saturated-s0"]  # saturated: most pixels have one channel near 1 and one near 0
    assert np.mean((sat.max(-1) > 0.75) & (sat.min(-1) < 0.25)) > 0.8
    ext = photos["stress-extremes-s0"]  # near-white left half, near-black right half
    assert np.median(ext[:, :100]) > 0.9 and np.median(ext[:, -100:]) < 0.1
    assert np.mean(photos["stress-edges-s0"] == 0) + np.mean(photos["stress-edges-s0"] == 1) > 0.3  # hard, clipped
    stripes = photos["stress-stripes-s0"][:128, :128, 0]  # fine: the level flips within a few pixels along a row
    assert (
        np.mean(np.abs(np.diff(stripes, axis=1)) > 0.3) > 0.1 or np.mean(np.abs(np.diff(stripes, axis=0)) > 0.3) > 0.1
    )


def test_calibration_never_uses_the_gates_photos():
    with pytest.raises(InvdnError, match="the parity gate's"):
        stress.calibration_photos(seeds=(stress.GATE_SEED,))
    gate = {n for n, _ in stress.stress_photos()}
    assert not gate & {n for n, _ in stress.calibration_photos()}
    assert all(f"s{stress.GATE_SEED}" not in n.split("-")[-1] for n, _ in stress.calibration_photos())


def test_natural_stress_photos_are_the_bundled_ones_no_other_set_uses(sample_clean):
    names = {n for n, _ in stress.natural()}
    assert len(names) == len(stress.NATURAL)
    heldout = {"brick", "camera", "gravel", "hubble_deep_field", "rocket", "text"}  # samples/heldout's sources
    assert not {f"skimage-{s}" for s in heldout | {p.stem for p in sample_clean.iterdir()}} & names


class _Sim:
    """A runner of the every-op INT8 simulation (16-bit activations, float weights: the calibrated ranges alone)."""

    evaluator = "quantsim"
    clips_output = True  # the every-op graph pins its output to [0, 1]

    def __init__(self, denoiser: Denoiser, feeds: list[dict], headroom: float) -> None:
        self.sim = QuantSim(denoiser)
        self.sim.bits, self.sim.weights = (lambda name: 16), False
        self.sim.observe([torch.from_numpy(f["image"]) for f in feeds], headroom=headroom)

    def run(self, batch: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return self.sim(torch.from_numpy(batch)).numpy()


def test_the_stress_set_catches_ranges_the_held_out_photos_never_test(compact, sample_clean):
    """The compact network calibrated on a narrow set (the calibration photos only) passes the INT8 gate on the
    held-out photos and fails it on the stress photos, where values leave the calibrated ranges and saturate; the
    ranges calibrated with the generated crops and 3x headroom pass both. 16-bit activations and float weights, so that
    what is measured is the ranges, not 8-bit resolution."""
    denoiser = Denoiser(compact, tile=(TILE, TILE), seed=0).eval()
    noises = ("awgn:15",)
    held = parity_set(denoiser, sample_clean.parent / "heldout", noises, TILE, whole=False, sets=("heldout",))
    hard = parity_set(denoiser, None, noises, TILE, whole=False, sets=("stress",))
    gate = GATES["int8"]
    narrow = _Sim(denoiser, calibration_data(None, TILE, 16, None), 1.0)
    assert measure("narrow", "sim", "int8", narrow, held, gate).status == "pass"
    row = measure("narrow", "sim", "int8", narrow, hard, gate)
    assert row.status == "fail" and row.max_abs_err > gate.max_abs_err, row.failures
    assert gate_failures(row, gate) == list(row.failures)
    # the cases outside the model's domain are named and left out, judged by the float output alone
    assert set(row.excluded) == {c.label for c, r in zip(hard.cases, hard.reference) if not in_domain(r, 0.25)}
    wide = _Sim(denoiser, calibration_data(None, TILE, 16, None, denoiser=denoiser), 3.0)
    for pset in (held, hard):
        fixed = measure("wide", "sim", "int8", wide, pset, gate)
        assert fixed.status == "pass", fixed.failures


def test_ranges_reports_coverage_and_headroom_removes_saturation():
    """`invdn ranges`: every tensor of the every-op graph with its calibrated range (the min/max of the calibration
    crops, so nothing saturates on them), the stress photos' range, the saturated fraction that follows from the two,
    and clamp costs; wider ranges (headroom) saturate less. A recipe without activation ranges is one line."""
    import json

    from typer.testing import CliRunner

    from invdn_mobile.cli.main import app

    require_weights("compact")
    args = ["ranges", "android-npu-int8-s16", "--variant", "compact", "--tile", "32", "--json"]
    runs = {}
    for headroom in ("1", "4"):
        result = CliRunner().invoke(app, [*args, "--headroom", headroom])
        assert result.exit_code == 0, result.output
        runs[headroom] = json.loads(result.stdout.strip().splitlines()[-1])
    plain, wide = runs["1"], runs["4"]
    assert plain["cases"] > 10 and len(plain["tensors"]) > 100
    for t in plain["tensors"]:
        lo, hi = t["calibrated"]
        assert t["calibration_saturated"] == 0 or t["tensor"] in ("input", "output")  # pinned to [0, 1]
        outside = t["seen"][0] < lo or t["seen"][1] > hi
        assert (t["saturated"] > 0) == outside or t["tensor"] in ("input", "output"), t
    assert sum(t["saturated"] > 0 for t in plain["tensors"]) > sum(t["saturated"] > 0 for t in wide["tensors"])
    assert plain["groups"] and all(len(v) == 2 for v in plain["groups"].values())
    result = CliRunner().invoke(app, ["ranges", "onnx-fp32"])
    assert result.exit_code != 0 and "not an INT8 recipe" in result.output
