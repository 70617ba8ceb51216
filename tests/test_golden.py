"""The golden vectors in golden/tiling/: current (not stale), and right by checks that do not use the code that wrote
them — hand-worked plans, the formulas in the files re-implemented here with plain loops, and properties (windows sum
to one, every pixel covered)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from invdn_mobile.golden import decode_f32, golden_vectors, write_golden

GOLDEN = Path(__file__).resolve().parent.parent / "golden" / "tiling"


def _doc(name: str) -> dict:
    return json.loads((GOLDEN / name).read_text())


def test_committed_golden_vectors_are_what_the_generator_writes(tmp_path):
    """golden/tiling/ is what the demo apps test their ports against: it must follow the Python package."""
    written = write_golden(tmp_path)
    assert sorted(p.name for p in written) == sorted(p.name for p in GOLDEN.glob("*.json"))
    for path in written:
        assert (GOLDEN / path.name).read_text() == path.read_text(), f"{path.name} is stale: run `invdn golden`"
    assert set(golden_vectors()) == {p.name for p in written}


# ---- plans: hand-worked cases and properties ----

HAND_PLANS = [
    # (height, width, tile, overlap) -> (ys, xs), worked out by hand from the origins formula
    ((1, 1, 256, 32), ((0,), (0,))),  # smaller than a tile: one tile, padded
    ((256, 256, 256, 32), ((0,), (0,))),  # exactly one tile
    # 257 px: n = ceil((257 - 32) / 224) = 2, origins 0 and 257 - 256 = 1
    ((257, 255, 256, 32), ((0, 1), (0,))),
    # overlap 0: 100 px: n = ceil(100 / 64) = 2 -> 0, 36;  130 px: n = 3 -> 0, 33, 66
    ((100, 130, 64, 0), ((0, 36), (0, 33, 66))),
    # 200 px: n = 4 -> 0, 45.33 -> 45, 90.67 -> 91, 136;  129 px: n = 3 -> 0, 32.5 -> 32 (half to even), 65
    ((200, 129, 64, 0), ((0, 45, 91, 136), (0, 32, 65))),
    # tile 16, overlap 4: 37 px: n = ceil(33 / 12) = 3 -> 0, 10.5 -> 10, 21;
    # 53 px: n = ceil(49 / 12) = 5 -> 0, 9.25 -> 9, 18.5 -> 18, 27.75 -> 28, 37
    ((37, 53, 16, 4), ((0, 10, 21), (0, 9, 18, 28, 37))),
]


@pytest.mark.parametrize("case, expected", HAND_PLANS)
def test_plans_match_hand_worked_origins(case, expected):
    found = [c for c in _doc("plans.json")["cases"] if (c["height"], c["width"], c["tile"], c["overlap"]) == case]
    assert len(found) == 1, f"no golden plan for {case}"
    assert (tuple(found[0]["ys"]), tuple(found[0]["xs"])) == expected


def _window(tile: int, before: int, after: int) -> list[float]:
    """The window formula of plans.json, written out again: min(1, (d + 0.5) / before, (tile - 1 - d + 0.5) / after)."""
    out = []
    for d in range(tile):
        w = 1.0
        if before:
            w = min(w, (d + 0.5) / before)
        if after:
            w = min(w, (tile - 1 - d + 0.5) / after)
        out.append(w)
    return out


def test_every_plan_covers_the_photo_and_its_windows_sum_to_one():
    for c in _doc("plans.json")["cases"]:
        t, (ph, pw) = c["tile"], c["padded"]
        assert ph == max(c["height"], t) and pw == max(c["width"], t)
        for origins, windows, length in ((c["ys"], c["window_y"], ph), (c["xs"], c["window_x"], pw)):
            assert origins[0] == 0 and origins[-1] + t == length and origins == sorted(origins)
            assert all(b - a <= t - c["overlap"] for a, b in zip(origins, origins[1:])), "overlap below the asked"
            total = np.zeros(length)
            for i, (o, w) in enumerate(zip(origins, windows)):
                before = origins[i - 1] + t - o if i else 0
                after = o + t - origins[i + 1] if i + 1 < len(origins) else 0
                assert w == pytest.approx(_window(t, before, after), abs=1e-12)
                total[o : o + t] += w
            assert total.min() > 0  # every pixel covered
            if all(2 * (b - a) >= t for a, b in zip(origins, origins[1:])):  # at most two tiles over any pixel:
                np.testing.assert_allclose(total, 1.0, atol=1e-12)  # the two ramps sum to one (no division needed)
        assert c["tiles"] == [[y, x, t, t] for y in c["ys"] for x in c["xs"]]


def _src(i: int, n: int) -> int:
    """The padding formula of padding.json: source index of padded index i on an axis of n pixels."""
    k = i % (2 * n)
    return k if k < n else 2 * n - 1 - k


def _origins(n_px: int, t: int, o: int) -> list[int]:
    """The origins formula of plans.json (Python's round() is half to even, as the formula says)."""
    length = max(n_px, t)
    if length <= t:
        return [0]
    n = math.ceil((length - o) / (t - o))
    return [round(i * (length - t) / (n - 1)) for i in range(n)]


def test_padding_follows_the_mirror_index_formula():
    for c in _doc("padding.json")["cases"]:
        h, w = c["height"], c["width"]
        image = decode_f32(c["image"], (h, w, 3))
        ph, pw = c["padded"]
        got = decode_f32(c["expected"], (ph, pw, 3))

        expected = np.array([[image[_src(y, h), _src(x, w)] for x in range(pw)] for y in range(ph)])
        np.testing.assert_array_equal(got, expected)


def test_blend_vectors_follow_the_formulas_written_in_the_file():
    """Re-do each blended image from plans.json's formulas with plain loops: stub per tile, weights, divide."""
    doc = _doc("blend.json")
    h, w, ch = doc["height"], doc["width"], doc["channels"]
    image = decode_f32(doc["image"], (h, w, ch)).astype(np.float64)
    for c in doc["cases"]:
        t, o = c["tile"], c["overlap"]

        ys, xs = _origins(h, t, o), _origins(w, t, o)
        acc = np.zeros((h, w, ch))
        weight = np.zeros((h, w, 1))
        for iy, y0 in enumerate(ys):
            wy = _window(t, ys[iy - 1] + t - y0 if iy else 0, y0 + t - ys[iy + 1] if iy + 1 < len(ys) else 0)
            for ix, x0 in enumerate(xs):
                wx = _window(t, xs[ix - 1] + t - x0 if ix else 0, x0 + t - xs[ix + 1] if ix + 1 < len(xs) else 0)
                for i in range(t):
                    y = y0 + i
                    if y >= h:
                        continue
                    for j in range(t):
                        x = x0 + j
                        if x >= w:
                            continue
                        px = image[_src(y, h), _src(x, w)]
                        out = 0.5 * px + (i + 2 * j + 3 * np.arange(ch)) / (4 * t)
                        wt = wy[i] * wx[j]
                        acc[y, x] += out * wt
                        weight[y, x] += wt
        assert c["tiles"] == len(ys) * len(xs)
        expected = acc / weight
        np.testing.assert_allclose(decode_f32(c["expected"], (h, w, ch)), expected, atol=2e-6)


def test_strength_vectors_follow_the_formulas_written_in_the_file():
    doc = _doc("strength.json")
    for c in doc["cases"]:
        h, w = c["height"], c["width"]
        img = decode_f32(c["image"], (h, w, 3)).astype(np.float64)
        hh, ww = h // 2 * 2, w // 2 * 2
        meds = []
        for ch in range(3):
            vals = sorted(
                abs(img[y, x, ch] - img[y, x + 1, ch] - img[y + 1, x, ch] + img[y + 1, x + 1, ch]) / 2
                for y in range(0, hh, 2)
                for x in range(0, ww, 2)
            )
            n = len(vals)
            meds.append(0.0 if n == 0 else (vals[n // 2] if n % 2 else (vals[n // 2 - 1] + vals[n // 2]) / 2))
        expected = sum(meds) / 3 / 0.6745 * 255 if hh and ww else 0.0
        assert c["expected"] == pytest.approx(expected, abs=1e-3)
    knots, values = doc["curve"]["sigma"], doc["curve"]["strength"]
    for q in doc["queries"]:
        assert q["expected"] == pytest.approx(float(np.interp(q["sigma"], knots, values)), abs=1e-12)
    b = doc["blend"]
    shape = (b["height"], b["width"], 3)
    noisy, den = decode_f32(b["noisy"], shape), decode_f32(b["denoised"], shape)
    for c in b["cases"]:
        s = np.float32(c["strength"])
        np.testing.assert_allclose(decode_f32(c["expected"], shape), noisy + s * (den - noisy), atol=1e-6)
