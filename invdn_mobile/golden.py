"""Golden vectors: the reference files in ``golden/`` that every port of the shared contract is tested against
(web_demo/tiling.js and strength.js, android_demo/core, ios_demo/InvDNCore).

``golden/tiling/``: this module sits above :mod:`invdn_mobile.tiling` and :mod:`invdn_mobile.strength` and only reads
them: it builds one JSON document per file (``golden_vectors``) and writes them atomically (``write_golden``,
``invdn golden``). The committed files are checked for staleness by ``tests/test_golden.py``, so a change to the tiler
or the strength code fails the ports' tests until the files are regenerated and the ports agree again.

``golden/replay/``: a real artifact's numbers for the apps' end-to-end tests (``write_replay``): a sample photo
with an EXIF orientation goes through the Android FP32 TFLite artifact (exported at a small tile, run by the package's
LiteRT runner) tile by tile, and every tile in and out, the strength and the final photo (float and 8-bit) are
recorded. ``golden/replay-int8/``: the same photo through the NPU recipe with int8 input and output
(``android-npu-int8-s16-io``); its cases also hold the int8 codes LiteRT was fed and returned. No LiteRT runs on a
JVM test machine, so the apps replay the recorded outputs and check everything around
the model. Checked for staleness by ``tests/test_replay.py``.
"""

from __future__ import annotations

import base64
import io
import json
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

from invdn_mobile.atomic import atomic_path, output_dir
from invdn_mobile.errors import InvdnError
from invdn_mobile.export.photos import sample_photos
from invdn_mobile.export.run import ExportJob, export_artifacts
from invdn_mobile.export.targets import get_target
from invdn_mobile.imageio import encode_png, read_image
from invdn_mobile.model.checkpoint import default_weights, load_weights
from invdn_mobile.runtimes import load_runner
from invdn_mobile.runtimes.litert import to_integer
from invdn_mobile.strength import ESTIMATOR, StrengthCurve, blend, estimate_sigma
from invdn_mobile.tiling import (
    DEFAULT_OVERLAP,
    DEFAULT_TILE,
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
UINT8_ENCODING = "base64 of uint8, HWC row-major (height, width, channels)"

# ---- tiling: plans, padding, blend ----

GOLDEN_PLANS = (  # (tile, overlap) -> photo sizes (height, width): tiny, exact multiples, odd, very wide and tall
    (
        (DEFAULT_TILE, DEFAULT_OVERLAP),
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


# ---- replay: a real artifact's tiles on a sample photo ----

REPLAY_PHOTO = "cups.png"  # in samples/noisy (camera noise, ISO 3200); samples/clean has the clean one (parity)
REPLAY_CROP = (60, 150, 147, 101)  # y, x, height, width of the stored pixels
REPLAY_ORIENTATION = 6  # EXIF: turn the stored pixels 90 degrees clockwise -> a 101 x 147 photo, 2 x 3 tiles of 64
REPLAY_TARGET = "android-cpu-fp32"
REPLAY_INT8_TARGET = "android-npu-int8-s16-io"  # int8 I/O: the apps' quantize / dequantize around the model
REPLAY_VARIANT = "compact"
REPLAY_TILE = 64  # small tiles: several of them on a small photo, and a quick export
REPLAY_NOISE = "camera:iso3200"  # the export's parity noise (on the clean crop)
REPLAY_GENERATOR = "invdn_mobile.golden (invdn golden --replay-out golden/replay)"
REPLAY_INT8_GENERATOR = "invdn_mobile.golden (invdn golden --replay-int8-out golden/replay-int8)"
INT8_ENCODING = "base64 of int8, HWC row-major (the artifact's NHWC tile without the batch axis)"
REPLAY_TOLERANCE = {"input": 1e-6, "float": 1e-5, "rgb8": 1}
EXIF_ORIENTATION = 0x0112

TileFn = Callable[[np.ndarray], np.ndarray]  # NCHW float32 batch -> NCHW float32 batch


def encode_u8(array: np.ndarray) -> str:
    """Base64 of uint8 (:data:`UINT8_ENCODING`)."""
    return base64.b64encode(np.ascontiguousarray(array, dtype=np.uint8).tobytes()).decode("ascii")


def decode_u8(text: str, shape: tuple[int, ...]) -> np.ndarray:
    return np.frombuffer(base64.b64decode(text), np.uint8).reshape(shape)


def replay_photo(kind: str = "noisy"):
    """The replay photo: its stored pixels (uint8 HWC, the crop of ``samples/<kind>``) and the :class:`Photo` the
    package reads from them saved as a PNG with EXIF orientation :data:`REPLAY_ORIENTATION` (upright)."""

    y, x, h, w = REPLAY_CROP
    with Image.open(sample_photos(kind) / REPLAY_PHOTO) as im:
        stored = np.asarray(im.convert("RGB"))[y : y + h, x : x + w]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / REPLAY_PHOTO
        exif = Image.Exif()
        exif[EXIF_ORIENTATION] = REPLAY_ORIENTATION
        Image.fromarray(stored).save(path, exif=exif)
        return stored, read_image(path)


def encode_i8(array: np.ndarray) -> str:
    """Base64 of int8 (two's complement bytes)."""
    return base64.b64encode(np.ascontiguousarray(array, dtype=np.int8).tobytes()).decode("ascii")


def decode_i8(text: str, shape: tuple[int, ...]) -> np.ndarray:
    return np.frombuffer(base64.b64decode(text), np.int8).reshape(shape)


def _codes(spec: dict, tile: np.ndarray) -> np.ndarray | None:
    """The int8 codes of a float tile for an integer I/O tensor ``spec`` (a manifest input or output), else None."""
    if spec["dtype"] != "int8":
        return None
    return to_integer(tile, np.int8, spec["scale"], spec["zero_point"])


def replay_doc(stored: np.ndarray, photo, entry: dict, fn: TileFn, target: str = REPLAY_TARGET) -> dict:
    """The replay document of ``photo`` (``stored``: its pixels as stored) through ``fn`` (the artifact of manifest
    entry ``entry``, made by recipe ``target``): tiler, strength from the entry's curve, blend, 8-bit PNG encode, as
    ``invdn denoise`` does. For int8 I/O each case also holds the codes in and out (``fn`` works on floats, quantizing
    with the entry's scale and zero point as the package's LiteRT runner does)."""

    rgb = photo.rgb
    height, width = rgb.shape[:2]
    tiling = entry["tiling"]
    p = plan(height, width, tiling["tile"], tiling["overlap"], tiling["multiple"])
    cases = []

    def record(batch: np.ndarray) -> np.ndarray:
        out = fn(batch)
        (y, x) = p.origins[len(cases)]
        tile_in, tile_out = batch[0].transpose(1, 2, 0), out[0].transpose(1, 2, 0)  # NHWC, the artifact's layout
        case = {"index": len(cases), "y": y, "x": x}
        codes_in, codes_out = _codes(entry["inputs"][0], tile_in), _codes(entry["outputs"][0], tile_out)
        if codes_in is not None and codes_out is not None:  # int8 I/O: the codes LiteRT was fed and returned
            case |= {"input_int8": encode_i8(codes_in), "output_int8": encode_i8(codes_out)}
        else:
            case |= {"input": encode_f32(tile_in), "output": encode_f32(tile_out)}
        cases.append(case)
        return out

    denoised = run_tiled(rgb, record, p)
    sigma = estimate_sigma(rgb)
    strength = StrengthCurve.from_dict(entry["strength"], entry["file"])(sigma)
    result = blend(rgb, denoised, strength)
    with Image.open(io.BytesIO(encode_png(photo.with_rgb(np.clip(result, 0.0, 1.0))))) as im:
        rgb8 = np.asarray(im.convert("RGB"))
    y, x, h, w = REPLAY_CROP
    int8 = bool(cases) and "input_int8" in cases[0]
    return {
        "generator": REPLAY_INT8_GENERATOR if int8 else REPLAY_GENERATOR,
        "reference": "invdn_mobile/golden.py (write_replay)",
        "description": "A sample photo with an EXIF orientation through a real artifact, tile by tile: photo.rgb8 "
        "is the pixels as stored (uint8), to be turned upright by photo.orientation; each case is one tile of the "
        "plan, in order, with the artifact's input and output in its layout (NHWC without the batch axis); then the "
        "strength curve of the manifest entry at the estimated sigma, blend, and the result as float (before clipping) "
        "and as the 8-bit PNG the package writes."
        + (" Int8 I/O: each case holds the int8 codes LiteRT was fed and returned (input_int8, output_int8), quantized "
           "and dequantized with the scale and zero point of the manifest entry's input and output." if int8 else ""),
        "artifact": {
            "file": entry["file"],
            "target": target,
            "sha256": entry["sha256"],
            "weights_sha256": entry["weights"]["sha256"],
            "runtime": f"ai-edge-litert {entry['tools'].get('ai-edge-litert', '?')} (invdn_mobile/runtimes/litert.py)",
        },
        "manifest": "manifest.json",
        "photo": {
            "source": f"samples/noisy/{REPLAY_PHOTO}",
            "crop": [y, x, h, w],
            "orientation": REPLAY_ORIENTATION,
            "stored_height": int(stored.shape[0]),
            "stored_width": int(stored.shape[1]),
            "height": height,
            "width": width,
            "rgb8": encode_u8(stored),
        },
        "plan": {"tile": p.tile, "overlap": p.overlap, "ys": list(p.ys), "xs": list(p.xs), "tiles": len(p)},
        "sigma": sigma,
        "strength": strength,
        "result": {"float": encode_f32(result), "rgb8": encode_u8(rgb8)},
        "encoding": {"float": FLOAT32_ENCODING, "rgb8": UINT8_ENCODING} | ({"int8": INT8_ENCODING} if int8 else {}),
        "tolerance": REPLAY_TOLERANCE,
        "cases": cases,
    }


def portable_entry(entry: dict, weights: Path) -> dict:
    """A manifest entry without this machine's paths (the weights as the package's path, the parity photos named)."""
    y, x, h, w = REPLAY_CROP
    weights_file = f"invdn_mobile/weights/{Path(weights).name}"
    parity = entry["parity"] | {"photos": f"samples/clean/{REPLAY_PHOTO} crop y={y} x={x} {h}x{w}"}
    return entry | {"weights": entry["weights"] | {"file": weights_file}, "parity": parity}


def write_replay(
    out_dir: Path | str, log: Callable[[str], None] = print, target_name: str = REPLAY_TARGET
) -> list[Path]:
    """Export recipe ``target_name`` (:data:`REPLAY_TARGET` or :data:`REPLAY_INT8_TARGET`) at :data:`REPLAY_TILE`
    (parity gate on the clean crop) into a temporary folder, run the replay photo through it with the package's
    LiteRT runner and write ``replay.json`` and the export's ``manifest.json`` into ``out_dir`` (atomically).
    Minutes: it converts the model."""

    target = get_target(target_name)
    weights = default_weights(REPLAY_VARIANT)
    if weights is None:
        raise InvdnError(f"no bundled {REPLAY_VARIANT} weights in this install: cannot write the replay vectors")
    model, meta = load_weights(weights, REPLAY_VARIANT)
    stored, photo = replay_photo()
    clean, _ = replay_photo("clean")
    with output_dir(Path(out_dir)) as out_dir, tempfile.TemporaryDirectory() as tmp:  # a bad folder fails first
        parity = Path(tmp) / "parity"
        parity.mkdir()
        Image.fromarray(clean).save(parity / REPLAY_PHOTO)
        job = ExportJob(
            model, meta, weights, target.format, target.precision, Path(tmp) / "export", REPLAY_TILE,
            z_input_variant=False, images=parity, noises=(REPLAY_NOISE,), options=target.options(REPLAY_VARIANT),
        )  # fmt: skip
        result = export_artifacts(job, log=log)
        (entry,) = result.entries
        if result.failed:
            raise InvdnError(f"{entry['file']} failed its parity gate: {'; '.join(entry['gate']['failures'])}")
        runner = load_runner("litert", Path(tmp) / "export" / entry["file"], entry)
        doc = replay_doc(stored, photo, entry, runner.run, target_name)
        written = []
        for name, text in (
            ("manifest.json", json.dumps({"artifacts": [portable_entry(entry, weights)]}, indent=2) + "\n"),
            ("replay.json", dump_golden(doc)),
        ):
            with atomic_path(out_dir / name) as tmp_path:
                tmp_path.write_text(text)
            written.append(out_dir / name)
    return written
