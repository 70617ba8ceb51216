"""``invdn bench photos``: whole photos through ``invdn denoise`` (12, 50, 100 MP...), each in its own process, with
that process's peak resident memory and the ``--profile`` breakdown, as rows of the results schema.

The photos are made by the benchmark itself: a smooth synthetic scene with seeded Gaussian noise (sigma 25 in 8-bit
levels), written band by band (PNG through the package's own writer; JPEG through OpenCV, one 8-bit copy)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from invdn_mobile.errors import InvdnError

FORMATS = {"png": ".png", "jpg": ".jpg", "jpeg": ".jpg"}
NOISE_SIGMA = 25.0  # 8-bit levels
STEPS = ("decode", "sigma", "tiles", "network", "blend", "encode", "wait", "total")


def parse_photos(text: str) -> list[tuple[tuple[int, int], str]]:
    """``"12mp.png,50mp.jpg,3000x4000"`` -> [((height, width), suffix)]: a size as ``invdn bench --sizes`` takes it
    (12mp, 50mp, 100mp too), then an optional ``.png`` (default) or ``.jpg``."""
    from invdn_mobile.bench.harness import parse_sizes

    out = []
    for part in (p.strip().lower() for p in text.split(",") if p.strip()):
        size, _, fmt = part.partition(".")
        if fmt and fmt not in FORMATS:
            raise InvdnError(f"bad photo {part!r}: the format is png or jpg")
        out.append((parse_sizes(size)[0], FORMATS[fmt or "png"]))
    if not out:
        raise InvdnError("no photos given")
    return out


def synthetic_rows(height: int, width: int, y0: int, y1: int, seed: int = 0) -> np.ndarray:
    """Rows ``y0:y1`` of the synthetic noisy photo (uint8 RGB): gradients and a sine pattern plus Gaussian noise,
    the noise seeded per row band so any band comes out the same on its own."""
    x = np.linspace(0.0, 1.0, width, dtype=np.float32)[None, :]
    y = (np.arange(y0, y1, dtype=np.float32) / max(height, 1))[:, None]
    scene = np.stack(
        np.broadcast_arrays(0.2 + 0.6 * x, 0.3 + 0.4 * y, 0.5 + 0.3 * np.sin(20 * x + 10 * y)), axis=-1
    ).astype(np.float32)
    noise = np.random.default_rng([seed, y0]).normal(0.0, NOISE_SIGMA / 255, scene.shape).astype(np.float32)
    return np.clip(np.rint((scene + noise) * 255), 0, 255).astype(np.uint8)


def make_photo(path: Path, height: int, width: int, band: int = 256) -> Path:
    """Write the synthetic photo of ``height x width`` to ``path`` (.png band by band, .jpg at quality 92)."""
    from invdn_mobile.atomic import atomic_path
    from invdn_mobile.imageio import PngWriter

    bands = range(0, height, band)
    with atomic_path(path) as tmp:
        if path.suffix == ".png":
            with open(tmp, "wb") as f:
                png = PngWriter(f, height, width, 8, 3)
                for y in bands:
                    png.write(synthetic_rows(height, width, y, min(height, y + band)))
                png.close()
        else:
            import cv2

            rgb = np.empty((height, width, 3), np.uint8)
            for y in bands:
                rgb[y : y + band] = synthetic_rows(height, width, y, min(height, y + band))
            ok, data = cv2.imencode(".jpg", rgb[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, 92])
            if not ok:
                raise InvdnError(f"{path}: JPEG encoding failed")
            tmp.write_bytes(data.tobytes())
    return path


def parse_profile(text: str) -> tuple[dict[str, float], str]:
    """The seconds per step and the threads line that ``invdn denoise --profile`` printed."""
    head = re.search(r"^profile: .*$", text, re.M)
    seconds = {step: float(v) for step, v in re.findall(r"\b([a-z]+) ([0-9.]+) s\b", text) if step in STEPS}
    if head is None or "network" not in seconds:
        raise InvdnError(f"invdn denoise --profile printed no breakdown: {text.strip()[-300:]}")
    return seconds, head.group(0)


def denoise_row(photo: Path, variant: str, threads: int | None, tile: int, extra: list[str] | None = None) -> dict:
    """Run ``invdn denoise --profile`` on ``photo`` in a fresh process and return its row: wall time, the breakdown
    and the process's peak RSS: its own ``VmHWM`` as it prints it (``wait4``'s ``ru_maxrss`` where it prints none;
    on Linux that one also counts the memory of this parent process at the spawn, what a big test process shows)."""
    import time

    from invdn_mobile.imageio import open_raster
    from invdn_mobile.tiling import default_overlap, plan

    height, width = open_raster(photo).size
    with tempfile.TemporaryDirectory(prefix="invdn-bench-") as out:
        cmd = [sys.executable, "-m", "invdn_mobile", "denoise", str(photo), "-o", out, "--variant", variant]
        cmd += ["--profile", "--tile", str(tile)] + (["--threads", str(threads)] if threads else []) + (extra or [])
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        text = proc.stdout.read()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
    row = {
        "backend": "invdn-denoise",
        "format": "pytorch",
        "precision": "fp32",
        "variant": variant,
        "artifact": None,
        "target": None,
        "device": "cpu",
        "size": f"{height}x{width}",
        "height": height,
        "width": width,
        "tiles": len(plan(height, width, tile, default_overlap(tile))),
        "tile": tile,
        "threads": threads,
        "batch": 1,
        "macs": None,
        "bytes": None,
        "median_ms": None,
        "p90_ms": None,
        "repeats": 1,
        "warmup": 0,
        "speedup_vs_torch_eager": None,
        "speedup_vs_fp32": None,
        "photo_format": photo.suffix.lstrip("."),
        "peak_mem_bytes": usage.ru_maxrss * 1024,
    }
    own = re.findall(r"peak resident memory so far: (\d+) kB", text)
    if own:  # the last one printed: the child's own address space, not counting this parent's
        row["peak_mem_bytes"] = int(own[-1]) * 1024
    if proc.returncode != 0:
        return row | {"status": "failed", "error": text.strip().splitlines()[-1][:300] if text.strip() else "failed"}
    seconds, used = parse_profile(text)
    seconds["host"] = seconds["total"] - seconds["network"]
    seconds["process"] = wall
    return row | {
        "status": "ok",
        "median_ms": wall * 1000,
        "p90_ms": wall * 1000,
        "min_ms": wall * 1000,
        "threads": int(m.group(1)) if (m := re.search(r"torch (\d+) intra-op", used)) else threads,
        "breakdown_s": {k: round(v, 4) for k, v in seconds.items()},
    }


def run(
    photos: list[tuple[tuple[int, int], str]],
    variants: list[str],
    threads: int | None,
    tile: int,
    folder: Path | None = None,
    on_row=None,
) -> list[dict]:
    """Make each photo (in ``folder``, default a temporary one) and run it through every variant."""
    rows = []
    with tempfile.TemporaryDirectory(prefix="invdn-photos-") as tmp:
        where = Path(folder or tmp)
        for (height, width), suffix in photos:
            photo = where / f"synthetic-{height}x{width}{suffix}"
            if not photo.exists():
                make_photo(photo, height, width)
            for variant in variants:
                row = denoise_row(photo, variant, threads, tile)
                rows.append(row)
                if on_row:
                    on_row(row)
    return rows
