"""Golden vectors: the reference files in ``golden/tiling/`` that every port of the shared contract is tested against
(web_demo/tiling.js and strength.js, android_demo/core, ios_demo/InvDNCore).

This module sits above :mod:`invdn_mobile.tiling` and :mod:`invdn_mobile.strength` and only reads them: it builds one
JSON document per file (``golden_vectors``) and writes them atomically (``write_golden``, ``invdn golden``). The
committed files are checked for staleness by ``tests/test_golden.py``, so a change to the tiler or the strength code
fails the ports' tests until the files are regenerated and the ports agree again.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np

from invdn_mobile.atomic import atomic_path
from invdn_mobile.strength import ESTIMATOR, StrengthCurve, blend, estimate_sigma
from invdn_mobile.tiling import (
    MULTIPLE,
    ORIGINS_FORMULA,
    PADDING,
    PADDING_FORMULA,
    WINDOW_FORMULA,
    axis_windows,
    pad_image,
    plan,
    run_tiled,
)

GENERATOR = "invdn_mobile.golden (invdn golden -o golden/tiling)"
FLOAT32_ENCODING = "base64 of little-endian float32, HWC row-major (height, width, channels)"

# ---- tiling: plans, padding, blend ----

GOLDEN_PLANS = (  # (tile, overlap) -> photo sizes (height, width): tiny, exact multiples, odd, very wide and tall
    (
        (256, 32),
        ((1, 1), (37, 53), (256, 256), (257, 255), (512, 768), (480, 300), (1000, 37), (37, 1500), (3024, 4032)),
    ),
    ((128, 32), ((1, 1), (100, 200), (128, 128), (129, 384), (301, 199), (2000, 41))),
    ((64, 16), ((1, 1), (3, 2), (37, 53), (64, 64), (65, 63), (112, 160), (150, 200), (301, 199), (16, 700))),
    ((64, 0), ((64, 64), (100, 130), (200, 129))),
    ((24, 20), ((24, 24), (25, 23), (37, 53), (80, 41))),
    ((16, 4), ((1, 1), (5, 7), (16, 16), (17, 15), (37, 53), (28, 40))),
)
GOLDEN_IMAGE = (37, 53, 3)  # seeded test image for the blend vectors
GOLDEN_IMAGE_SEED = 2026
GOLDEN_BLENDS = ((16, 4), (24, 20), (32, 0), (64, 16))  # (tile, overlap)
GOLDEN_PADS = ((3, 2, 16), (5, 7, 16), (37, 53, 64), (1, 1, 8))  # (height, width, tile): padded with PADDING
STUB_FORMULA = (
    "per tile, in float32: out[c, i, j] = 0.5 * x[c, i, j] + float32((i + 2 * j + 3 * c) / (4 * tile)), with (i, j) "
    "the row and column inside the tile and c the channel (pointwise but position-dependent, so overlapping tiles "
    "disagree and the blend weights decide the result)"
)

# ---- strength: sigma estimate, curve, blend ----

SIGMA_CASES = ((37, 53, 0.0), (36, 52, 2.0), (37, 53, 10.0), (64, 48, 30.0), (2, 3, 5.0), (1, 9, 5.0))
SIGMA_SEED = 2027
STRENGTH_CURVE = StrengthCurve((0.0, 2.0, 5.0, 9.0, 14.0), (0.0, 0.05, 0.3, 0.8, 1.0))
STRENGTH_QUERIES = (-1.0, 0.0, 1.0, 2.0, 3.5, 5.0, 8.999, 9.0, 13.0, 14.0, 40.0)
STRENGTH_BLENDS = (0.0, 0.37, 1.0)


def encode_f32(array: np.ndarray) -> str:
    """Base64 of little-endian float32 (:data:`FLOAT32_ENCODING`)."""
    return base64.b64encode(np.ascontiguousarray(array, dtype="<f4").tobytes()).decode("ascii")


def decode_f32(text: str, shape: tuple[int, ...]) -> np.ndarray:
    """Inverse of :func:`encode_f32`."""
    return np.frombuffer(base64.b64decode(text), "<f4").reshape(shape)


def golden_stub(batch: np.ndarray) -> np.ndarray:
    """The stub per-tile function of the blend vectors (:data:`STUB_FORMULA`), NCHW float32 -> NCHW float32."""
    _, c, t, _ = batch.shape
    ci, yi, xi = np.meshgrid(np.arange(c), np.arange(t), np.arange(t), indexing="ij")
    offset = ((yi + 2 * xi + 3 * ci) / (4 * t)).astype(np.float32)
    return (np.float32(0.5) * batch.astype(np.float32) + offset).astype(np.float32)


def golden_image() -> np.ndarray:
    return np.random.default_rng(GOLDEN_IMAGE_SEED).random(GOLDEN_IMAGE, dtype=np.float32)


def sigma_image(height: int, width: int, sigma: float, seed: int) -> np.ndarray:
    """Smooth gradients plus seeded Gaussian noise of ``sigma`` 8-bit levels, HWC float32 in [0, 1]."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    base = np.stack([0.5 + 0.3 * np.sin(xx * (c + 1) / 37 + yy / 53) for c in range(3)], axis=-1)
    noise = np.random.default_rng(seed).normal(0.0, sigma / 255, base.shape)
    return np.clip(base + noise, 0, 1).astype(np.float32)


def _plan_case(height: int, width: int, tile: int, overlap: int) -> dict:
    p = plan(height, width, tile, overlap)
    return {
        "height": height,
        "width": width,
        "tile": tile,
        "overlap": overlap,
        "multiple": MULTIPLE,
        "padded": list(p.padded),
        "ys": list(p.ys),
        "xs": list(p.xs),
        "tiles": [[y, x, tile, tile] for y, x in p.origins],
        "window_y": [w.tolist() for w in axis_windows(p.ys, tile)],
        "window_x": [w.tolist() for w in axis_windows(p.xs, tile)],
    }


def _common(reference: str) -> dict:
    return {"generator": GENERATOR, "reference": reference}


def plans_doc() -> dict:
    return _common("invdn_mobile/tiling.py") | {
        "description": "Tile plans and per-axis blend windows. tiles: [y, x, height, width] in the padded photo, "
        "row-major; window_y[i] / window_x[j]: the float64 weights of the i-th tile row / j-th tile column; the 2-D "
        "weight of tile (i, j) is float32(window_y[i][r] * window_x[j][c]).",
        "origins_formula": ORIGINS_FORMULA,
        "window_formula": WINDOW_FORMULA,
        "cases": [_plan_case(h, w, t, o) for (t, o), sizes in GOLDEN_PLANS for h, w in sizes],
    }


def padding_doc() -> dict:
    image = golden_image()
    cases = []
    for h, w, t in GOLDEN_PADS:
        crop = image[:h, :w]
        padded = pad_image(crop, plan(h, w, t, 0))
        cases.append(
            {
                "height": h,
                "width": w,
                "tile": t,
                "padded": list(padded.shape[:2]),
                "image": encode_f32(crop),
                "expected": encode_f32(padded),
            }
        )
    return _common("invdn_mobile/tiling.py") | {
        "description": f"Mirror padding ({PADDING}) at the bottom and right to at least one tile; images are the "
        "golden image's top-left height x width crop.",
        "padding": PADDING,
        "padding_formula": PADDING_FORMULA,
        "encoding": FLOAT32_ENCODING,
        "cases": cases,
    }


def blend_doc() -> dict:
    image = golden_image()
    cases = []
    for t, o in GOLDEN_BLENDS:
        p = plan(image.shape[0], image.shape[1], t, o)
        out = run_tiled(image, golden_stub, p, batch=3)
        cases.append({"tile": t, "overlap": o, "tiles": len(p), "expected": encode_f32(out)})
    return _common("invdn_mobile/tiling.py") | {
        "description": "One seeded image through run_tiled with a stub per-tile function instead of the model: "
        "plan(height, width, tile, overlap), mirror padding, stub on every tile, feathered blend, crop.",
        "stub_formula": STUB_FORMULA,
        "image_generator": f"numpy.random.default_rng({GOLDEN_IMAGE_SEED}).random({GOLDEN_IMAGE}, dtype=float32)",
        "height": GOLDEN_IMAGE[0],
        "width": GOLDEN_IMAGE[1],
        "channels": GOLDEN_IMAGE[2],
        "encoding": FLOAT32_ENCODING,
        "image": encode_f32(image),
        "tolerance": 1e-6,
        "cases": cases,
    }


def strength_doc() -> dict:
    """Sigma estimates of seeded images, a curve at query points, blends."""
    sigma_cases = []
    for i, (h, w, sigma) in enumerate(SIGMA_CASES):
        img = sigma_image(h, w, sigma, SIGMA_SEED + i)
        sigma_cases.append({"height": h, "width": w, "image": encode_f32(img), "expected": estimate_sigma(img)})
    a = sigma_image(37, 53, 20.0, SIGMA_SEED + 100)
    b = sigma_image(37, 53, 0.0, SIGMA_SEED + 101)
    return _common("invdn_mobile/strength.py") | {
        "description": "Noise-adaptive strength: estimate_sigma of seeded HWC images (3 channels), the piecewise-"
        "linear curve at query sigmas (constant beyond the ends), and blend(noisy, denoised, s) = noisy + s * "
        "(denoised - noisy) in float32.",
        "estimator": ESTIMATOR,
        "estimator_formula": estimate_sigma.__doc__.split("Ports must match it: ")[1].replace("\n    ", " "),
        "encoding": FLOAT32_ENCODING,
        "tolerance": {"sigma": 1e-3, "strength": 1e-9, "blend": 1e-6},
        "curve": STRENGTH_CURVE.to_dict(),
        "queries": [{"sigma": q, "expected": STRENGTH_CURVE(q)} for q in STRENGTH_QUERIES],
        "blend": {
            "height": 37,
            "width": 53,
            "noisy": encode_f32(a),
            "denoised": encode_f32(b),
            "cases": [{"strength": s, "expected": encode_f32(blend(a, b, s))} for s in STRENGTH_BLENDS],
        },
        "cases": sigma_cases,
    }


def golden_vectors() -> dict[str, dict]:
    """The golden files (name -> JSON document) that the demo apps' ports are tested against."""
    return {
        "plans.json": plans_doc(),
        "padding.json": padding_doc(),
        "blend.json": blend_doc(),
        "strength.json": strength_doc(),
    }


def dump_golden(doc: dict) -> str:
    """Stable text of a golden document: top-level keys one per line, each case on one line."""
    lines = ["{"]
    items = list(doc.items())
    for n, (key, value) in enumerate(items):
        comma = "," if n + 1 < len(items) else ""
        if key == "cases":
            body = ",\n".join("    " + json.dumps(case, separators=(", ", ": ")) for case in value)
            lines.append(f'  "cases": [\n{body}\n  ]{comma}')
        else:
            lines.append(f"  {json.dumps(key)}: {json.dumps(value)}{comma}")
    lines.append("}")
    return "\n".join(lines) + "\n"


def write_golden(out_dir: Path | str) -> list[Path]:
    """Write the golden files into ``out_dir`` (atomically, one by one); the paths written."""
    out_dir = Path(out_dir)
    written = []
    for name, doc in golden_vectors().items():
        with atomic_path(out_dir / name) as tmp:
            tmp.write_text(dump_golden(doc))
        written.append(out_dir / name)
    return written
