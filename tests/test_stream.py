"""The streaming whole-photo path of ``invdn denoise`` (issue 37): the same pixels as the whole-image path on photos
of every awkward size and kind, bounded memory, and no partial output when a photo is bad."""

import io
import os
import re
import struct
import subprocess
import sys
import textwrap
import zlib

import cv2
import numpy as np
import pytest
import torch
from PIL import Image, ImageOps
from typer.testing import CliRunner

from invdn_mobile.cli.main import app
from invdn_mobile.denoise import denoise_file, denoise_photo, ensemble_fn, load_denoiser
from invdn_mobile.errors import InvdnError
from invdn_mobile.imageio import Photo, PngRows, Raster, open_raster
from invdn_mobile.strength import estimate_sigma, raster_sigma
from invdn_mobile.tiling import plan, run_banded, run_tiled

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def _nonlocal(batch: np.ndarray) -> np.ndarray:
    """A tile function whose output depends on neighbouring pixels and on the tile's borders (so the tiling shows)."""
    return np.tanh(2 * batch + np.roll(batch, 1, axis=-1) - 0.3 * np.roll(batch, 2, axis=-2)).astype(np.float32)


@pytest.mark.parametrize("size", [(1, 1), (16, 16), (17, 33), (3, 300), (300, 3), (100, 100), (64, 63), (257, 31)])
@pytest.mark.parametrize("batch", [1, 3, 7])
def test_banded_blend_is_run_tiled_exactly(size, batch):
    image = np.random.default_rng(sum(size)).random(size + (3,), dtype=np.float32)
    p = plan(*size, tile=16, overlap=4)
    bands = []

    def emit(y0, out):
        assert y0 == sum(len(b) for b in bands)  # top to bottom, no gap, no overlap
        bands.append(out)

    run_banded(lambda y0, y1: image[y0:y1], _nonlocal, p, emit, batch)
    np.testing.assert_array_equal(np.concatenate(bands), run_tiled(image, _nonlocal, p, batch))
    if size[0] > 32:
        assert len(bands) > 1  # it did stream


def test_banded_blend_copes_with_a_runtime_that_reuses_its_output_buffer():
    # Blending runs on a thread of its own while the next batch runs: an output array the runtime overwrites on its
    # next call (as some interpreters' output tensors are) must not leak into the sums.
    image = np.random.default_rng(3).random((70, 90, 3), dtype=np.float32)
    p = plan(70, 90, tile=16, overlap=4)
    buffer = {}

    def reusing(batch):
        out = buffer.setdefault(batch.shape, np.empty(batch.shape, np.float32))
        out[...] = _nonlocal(batch)
        return out

    bands = []
    run_banded(lambda y0, y1: image[y0:y1], reusing, p, lambda y0, out: bands.append(out), 2)
    np.testing.assert_array_equal(np.concatenate(bands), run_tiled(image, _nonlocal, p, 2))


def _png_filtered(pixels: np.ndarray, bits: int, chunk: int = 997) -> bytes:
    """A PNG of ``pixels`` (H, W, C in the file's own channel order), its rows using the five PNG filters in turn,
    in IDAT chunks of ``chunk`` bytes: written here from the PNG specification (the package's writer uses only
    filter 2, OpenCV's mostly filter 1)."""
    h, w, c = pixels.shape
    data = pixels.astype(">u2" if bits == 16 else np.uint8).reshape(h, -1).view(np.uint8).astype(np.int32)
    bpp = c * bits // 8
    raw = []
    for y in range(h):
        x, up = data[y], data[y - 1] if y else np.zeros_like(data[y])
        left, upleft = (np.concatenate([np.zeros(bpp, np.int32), v[:-bpp]]) for v in (x, up))
        kind = y % 5
        estimate = left + up - upleft  # Paeth: the neighbour nearest this estimate, ties to left, then up
        near = np.abs(estimate[None] - np.stack([left, up, upleft])).argmin(axis=0)
        paeth = np.choose(near, [left, up, upleft])
        predict = [np.zeros_like(x), left, up, (left + up) // 2, paeth][kind]
        raw.append(bytes([kind]) + ((x - predict) % 256).astype(np.uint8).tobytes())
    z = zlib.compress(b"".join(raw), 6)
    body = [(b"IHDR", struct.pack(">IIBBBBB", w, h, bits, {1: 0, 2: 4, 3: 2, 4: 6}[c], 0, 0, 0))]
    body += [(b"IDAT", z[i : i + chunk]) for i in range(0, len(z), chunk)] + [(b"IEND", b"")]
    out = b"\x89PNG\r\n\x1a\n"
    for kind, data in body:
        out += struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return out


@pytest.mark.parametrize("channels,bits", [(3, 8), (4, 8), (1, 8), (2, 8), (3, 16), (4, 16), (1, 16)])
def test_png_rows_decode_band_by_band_to_the_same_pixels(tmp_path, monkeypatch, channels, bits):
    monkeypatch.setattr(PngRows, "BAND_BYTES", 300)  # a few rows a band: many bands
    rng = np.random.default_rng(channels * bits)
    pixels = rng.integers(0, 1 << bits, (23, 37, channels)).astype(np.uint16 if bits == 16 else np.uint8)
    path = tmp_path / "f.png"
    path.write_bytes(_png_filtered(pixels, bits))
    raster = open_raster(path, stream=True)
    assert raster.decoding is not None and raster.bits == bits
    raster.ready()
    assert raster.decoding.done == 23 and raster.decoding.seconds > 0
    np.testing.assert_array_equal(raster.pixels, pixels)
    np.testing.assert_array_equal(raster.pixels, open_raster(path).pixels)  # the whole-file decode agrees
    if bits == 8 and channels in (1, 3):  # and the float rows the tiler reads
        np.testing.assert_array_equal(raster.rgb(5, 9), open_raster(path).rgb(5, 9))


def test_pngs_that_cannot_stream_are_decoded_whole(tmp_path):
    rgb = np.random.default_rng(4).integers(0, 256, (20, 30, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "trns.png", transparency=(1, 2, 3))  # a transparent colour: OpenCV's
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(rgb).save(tmp_path / "turned.png", exif=exif.tobytes())  # the rows are the file's columns
    for name in ("trns.png", "turned.png"):
        raster = open_raster(tmp_path / name, stream=True)
        assert raster.decoding is None
        np.testing.assert_array_equal(raster.pixels, open_raster(tmp_path / name).pixels)
    assert open_raster(tmp_path / "turned.png").size == (30, 20)


def test_a_png_cut_or_corrupt_mid_stream_fails_when_its_rows_are_reached(tmp_path, monkeypatch):
    monkeypatch.setattr(PngRows, "BAND_BYTES", 2000)
    pixels = np.random.default_rng(6).integers(0, 256, (120, 60, 3), dtype=np.uint8)  # noise: hardly compresses
    data = _png_filtered(pixels, 8)
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    raster = open_raster(tmp_path / "cut.png", stream=True)  # the header is whole: this returns at once
    raster.ready(30)  # rows before the cut decode...
    np.testing.assert_array_equal(raster.pixels[:30], pixels[:30])
    with pytest.raises(InvdnError, match="cut.png: corrupt or truncated image"):  # ...the rest is one clear error
        raster_sigma(raster)
    with pytest.raises(InvdnError, match="truncated"):
        raster.rgb(100, 120)

    corrupt = bytearray(data)
    corrupt[len(data) * 3 // 4] ^= 0x10  # one bit in the IDAT data: its chunk's CRC no longer matches
    (tmp_path / "bit.png").write_bytes(bytes(corrupt))
    raster = open_raster(tmp_path / "bit.png", stream=True)
    with pytest.raises(InvdnError, match="bit.png: corrupt"):
        raster.ready()


@pytest.mark.parametrize(
    "shape,bits", [((101, 77, 3), 8), ((50, 64, 1), 8), ((33, 40, 4), 16), ((2, 2, 2), 16), ((1001, 333, 3), 8)]
)
def test_banded_sigma_matches_estimate_sigma(shape, bits):
    top = 65535 if bits == 16 else 255
    rng = np.random.default_rng(shape[0])
    pixels = np.clip(rng.normal(top / 2, top / 10, shape), 0, top).astype(np.uint16 if bits == 16 else np.uint8)
    raster = Raster(pixels, bits)
    expected = estimate_sigma(raster.rgb())
    assert expected > 20  # real noise, not a trivial zero
    assert raster_sigma(raster, band=64) == pytest.approx(expected, abs=1e-3)


def _upright(path):
    """The input pixels, decoded independently of the package: OpenCV for 16-bit PNG, else Pillow (EXIF-turned)."""
    array = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if array.dtype == np.uint16:
        return array[..., [2, 1, 0, 3][: array.shape[2]]] if array.ndim == 3 else array
    with Image.open(path) as im:
        return np.asarray(ImageOps.exif_transpose(im))


def _photo(kind, size, rng):
    h, w = size
    if kind == "rgb16":
        return rng.integers(0, 65536, (h, w, 3), dtype=np.uint16)
    if kind == "rgba16":
        return rng.integers(0, 65536, (h, w, 4), dtype=np.uint16)
    if kind == "gray":
        return rng.integers(0, 256, (h, w), dtype=np.uint8)
    if kind == "rgba":
        return rng.integers(0, 256, (h, w, 4), dtype=np.uint8)
    return rng.integers(0, 256, (h, w, 3), dtype=np.uint8)


CASES = [
    ("one-pixel", "rgb", (1, 1), ".png", 1),
    ("one-tile", "rgb", (32, 32), ".png", 1),
    ("non-multiple", "rgb", (45, 71), ".png", 1),
    ("very-wide", "rgb", (5, 400), ".png", 1),
    ("very-tall", "rgb", (400, 6), ".png", 1),
    ("16-bit", "rgb16", (50, 37), ".png", 1),
    ("16-bit-alpha", "rgba16", (41, 50), ".png", 1),
    ("alpha", "rgba", (70, 33), ".png", 1),
    ("gray", "gray", (39, 58), ".png", 1),
    ("exif-rotated", "rgb", (40, 75), ".jpg", 6),
    ("exif-transposed", "rgb", (53, 30), ".jpg", 5),
]


@pytest.mark.parametrize("name,kind,size,suffix,orientation", CASES, ids=[c[0] for c in CASES])
def test_streaming_denoise_equals_the_whole_image_path(tmp_path, tiny_weights, name, kind, size, suffix, orientation):
    rng = np.random.default_rng(len(name))
    pixels = _photo(kind, size, rng)
    path = tmp_path / f"{name}{suffix}"
    if pixels.dtype == np.uint16:
        cv2.imwrite(str(path), pixels[..., [2, 1, 0, 3][: pixels.shape[2]]])
    else:
        exif = Image.Exif()
        exif[0x0112] = orientation
        Image.fromarray(pixels).save(path, **({"exif": exif.tobytes(), "quality": 95} if suffix == ".jpg" else {}))
    tile, overlap, strength = 16, 4, 0.6
    result = invoke(
        "denoise", path, "-o", tmp_path / "out", "--weights", tiny_weights, "--tile", tile, "--overlap", overlap,
        "--strength", strength,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    got = cv2.imread(str(tmp_path / "out" / f"{name}.png"), cv2.IMREAD_UNCHANGED)

    # The reference: today's whole-image path (run_tiled on the float photo) on independently decoded pixels.
    source = _upright(path)
    bits = 16 if source.dtype == np.uint16 else 8
    scale = 65535.0 if bits == 16 else 255.0
    source = source[:, :, None] if source.ndim == 2 else source
    alpha = source[:, :, -1] if source.shape[2] in (2, 4) else None
    colour = source[:, :, :3] if alpha is None or source.shape[2] == 4 else source[:, :, :1]
    rgb = np.repeat(colour, 3 // colour.shape[2], axis=2).astype(np.float32) / scale
    denoiser, _ = load_denoiser(tiny_weights, None, torch.device("cpu"))
    out = denoise_photo(Photo(rgb, bits), ensemble_fn(denoiser), tile, overlap, 4, strength=strength).rgb
    expected = np.round(np.clip(out, 0, 1) * scale)
    if colour.shape[2] == 1:  # gray stays gray: the mean of the channels
        expected = np.round(np.clip(out, 0, 1).mean(axis=2) * scale)
    got_rgb = got if got.ndim == 2 else got[:, :, [2, 1, 0]]
    assert got_rgb.shape == expected.shape
    assert np.abs(got_rgb.astype(np.float64) - expected).max() <= scale / 255  # one 8-bit level
    assert np.abs(expected - colour.squeeze() * 1.0).max() > 0  # the model changed the photo
    if alpha is not None:
        np.testing.assert_array_equal(got[:, :, 3], alpha)


def test_profile_breaks_a_streamed_png_down(tmp_path, tiny_weights):
    rgb = np.random.default_rng(8).integers(0, 256, (90, 70, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "p.png")
    result = invoke("denoise", tmp_path / "p.png", "-o", tmp_path / "out", "--weights", tiny_weights, "--tile", 32,
                    "--profile")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "1 worker thread each for PNG decoding and the sigma estimate, tile cutting, blending" in result.stdout
    seconds = {k: float(v) for k, v in re.findall(r"\b([a-z]+) ([0-9.]+) s\b", result.stdout)}
    assert set(seconds) >= {"decode", "sigma", "tiles", "network", "blend", "encode", "total"}, result.stdout
    assert seconds["decode"] > 0 and 0 < seconds["network"] < seconds["total"]
    np.testing.assert_array_equal(cv2.imread(str(tmp_path / "out" / "p.png")).shape, (90, 70, 3))


def test_ensembles_and_batches_stream_too(tmp_path, tiny_weights):
    rng = np.random.default_rng(5)
    rgb = rng.integers(0, 256, (45, 60, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "a.png")
    raster = open_raster(tmp_path / "a.png")
    denoiser, _ = load_denoiser(tiny_weights, None, torch.device("cpu"))
    fn = ensemble_fn(denoiser, samples=2, tta=True)
    denoise_file(raster, tmp_path / "out.png", fn, 16, 4, 4, batch=5, strength=1.0)
    out = denoise_photo(raster.to_photo(), fn, 16, 4, 4, batch=5).rgb
    got = cv2.imread(str(tmp_path / "out.png"))[:, :, ::-1].astype(np.float64)
    assert np.abs(got - np.round(out * 255)).max() <= 1


def test_a_failure_mid_stream_leaves_no_file(tmp_path):
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (200, 50, 3), dtype=np.uint8)).save(tmp_path / "a.png")
    calls = []

    def breaks(batch):
        calls.append(1)
        if len(calls) == 20:  # several bands are written by now
            raise RuntimeError("the network broke")
        return batch

    with pytest.raises(RuntimeError):
        denoise_file(open_raster(tmp_path / "a.png"), tmp_path / "out" / "a.png", breaks, 16, 4, 4)
    assert list((tmp_path / "out").iterdir()) == []  # neither the output nor its temporary file


@pytest.mark.parametrize("suffix", [".jpg", ".png"])
def test_truncated_photo_is_one_line_and_no_output(tmp_path, tiny_weights, suffix):
    rgb = np.random.default_rng(1).integers(0, 256, (300, 400, 3), dtype=np.uint8)
    data = io.BytesIO()
    Image.fromarray(rgb).save(data, format="JPEG" if suffix == ".jpg" else "PNG")
    path = tmp_path / f"cut{suffix}"
    path.write_bytes(data.getvalue()[: len(data.getvalue()) * 2 // 3])  # the pixels stop two thirds of the way
    out = tmp_path / "out"
    result = invoke("denoise", path, "-o", out, "--weights", tiny_weights, "--tile", "32")
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "truncated" in lines[0], result.stderr
    assert not out.exists()


BUDGET_SCRIPT = textwrap.dedent(
    """
    import resource, sys
    from pathlib import Path
    import cv2, numpy as np
    from PIL import Image
    from invdn_mobile.denoise import denoise_file, denoise_photo
    from invdn_mobile.imageio import open_raster, write_image

    path, out, mode, budget = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], int(sys.argv[4])
    Image.init()  # every library loaded before the limit: it bounds the photo's memory, not the imports
    size = int(next(l for l in open("/proc/self/status") if l.startswith("VmSize")).split()[1]) * 1024
    resource.setrlimit(resource.RLIMIT_AS, (size + budget, size + budget))  # address space: now + the budget

    def fn(batch):
        return batch * 0.5 + 0.25

    raster = open_raster(path, stream=mode == "stream")  # as `invdn denoise` reads it: the rows when needed
    if mode == "stream":
        denoise_file(raster, out, fn, 128, 16, 4)
    else:  # the whole photo in float, as before streaming
        write_image(out, denoise_photo(raster.to_photo(), fn, 128, 16, 4))
    print("ok")
    """
)


def test_a_photo_larger_than_the_memory_budget_streams(tmp_path):
    # 3000 x 4000 RGB: 36 MB as 8-bit, 144 MB as one float copy; the budget is 120 MB of address space beyond what
    # the process has mapped after its imports (measured 2026-12-07 by bisecting the budget: streaming, PNG rows
    # decoded as needed, fits in 110 MB of it, thread stacks included; the whole-image path, with several float
    # copies, needs over 300 MB).
    rng = np.random.default_rng(2)
    rows = rng.integers(0, 256, (3000, 4000, 3), dtype=np.uint8)
    cv2.imwrite(str(tmp_path / "big.png"), rows[:, :, ::-1])
    script = tmp_path / "budget.py"
    script.write_text(BUDGET_SCRIPT)
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MALLOC_ARENA_MAX="1", PYTHONPATH=ROOT)
    budget = str(120 * 2**20)

    def run(mode):
        cmd = [sys.executable, str(script), tmp_path / "big.png", tmp_path / f"{mode}.png", mode, budget]
        return subprocess.run([str(c) for c in cmd], capture_output=True, text=True, env=env, timeout=300)

    streamed = run("stream")
    assert streamed.returncode == 0 and streamed.stdout.strip() == "ok", streamed.stderr[-2000:]
    got = cv2.imread(str(tmp_path / "stream.png"))
    np.testing.assert_array_equal(got, np.round(rows[:, :, ::-1] / 255 * 0.5 * 255 + 0.25 * 255).astype(np.uint8))
    whole = run("whole")
    assert whole.returncode != 0 and "MemoryError" in whole.stderr  # the budget does bite
    assert not (tmp_path / "whole.png").exists()


def test_bench_photos_rows_in_the_results_schema(tmp_path):
    from invdn_mobile.bench import schema
    from invdn_mobile.bench.photos import make_photo, parse_photos
    from invdn_mobile.bench.report import photo_rows

    assert parse_photos("12mp.png,50mp.jpg,100mp") == [((3000, 4000), ".png"), ((5773, 8660), ".jpg"),
                                                       ((8660, 11547), ".png")]  # fmt: skip
    made = make_photo(tmp_path / "s.png", 300, 200)
    assert estimate_sigma(open_raster(made).rgb()) == pytest.approx(25, abs=3)  # the synthetic noise, sigma 25

    result = invoke(
        "bench", "photos", "--photos", "70x90.png,40x50.jpg", "--threads", "1", "--tile", "32",
        "--out", tmp_path / "photos.json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    doc = schema.load(tmp_path / "photos.json")
    assert [(r["size"], r["photo_format"], r["status"]) for r in doc["rows"]] == [("70x90", "png", "ok"),
                                                                                  ("40x50", "jpg", "ok")]  # fmt: skip
    for r in doc["rows"]:
        b = r["breakdown_s"]
        assert r["threads"] == 1 and r["tiles"] == (12 if r["size"] == "70x90" else 4)
        assert 0 < b["network"] < b["total"] <= b["process"] and b["host"] == pytest.approx(b["total"] - b["network"])
        assert 50e6 < r["peak_mem_bytes"] < 2e9  # a Python process with torch, measured by wait4
    table = photo_rows(doc["rows"])
    assert table.count("\n") == 3 and "| compact | 70x90 | png | 1 |" in table
