"""Per-photo INT8 drops on the held-out parity photos (docs/int8.md): for each artifact (or export folder) and each
noise, the PSNR vs clean lost against PyTorch FP32 per photo (whole photo through the tiler), the mean and the worst
photo, and the largest output-pixel error vs PyTorch FP32 on [0, 1] (with, at that pixel, how far each of the two is
from the clean photo: where the FP32 model itself strays, the quantized ranges clip it).

    PYTHONPATH=. python scripts/int8_heldout.py export/out/android-npu-int8 --noise camera:iso3200 --noise awgn:15
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from invdn_mobile.denoise import denoise_array, ensemble_fn
from invdn_mobile.export.manifest import read_manifest, weights_for_entry
from invdn_mobile.export.registry import get_format
from invdn_mobile.imageio import list_images, read_image
from invdn_mobile.metrics import psnr
from invdn_mobile.model import Denoiser
from invdn_mobile.model.checkpoint import load_weights
from invdn_mobile.noise import make_noisy
from invdn_mobile.runtimes import load_runner
from invdn_mobile.tiling import default_overlap

_REFERENCES: dict[tuple, tuple] = {}


def references(model, wpath: Path, tile: int, z: dict, images: Path, noise: str):
    """(clean, noisy) whole photos (noise seeded per photo) and the PyTorch FP32 denoiser's output on each, through
    the tiler at the artifact's tile and z."""
    key = (str(wpath), tile, z["seed"], z["scale"], str(images), noise)
    if key not in _REFERENCES:
        denoiser = Denoiser(model, tile=(tile, tile), seed=z["seed"], z_scale=z["scale"]).eval()
        fn = ensemble_fn(denoiser)
        photos = []
        for i, f in enumerate(list_images(images)):
            clean = read_image(f).rgb
            photos.append((clean, make_noisy(clean, noise, i)))
        ref = [denoise_array(noisy, fn, tile, default_overlap(tile)) for _, noisy in photos]
        _REFERENCES[key] = photos, ref
    return _REFERENCES[key]


def entries(paths: list[Path]):
    for p in paths:
        if p.is_dir():
            yield from ((p / e["file"], e) for e in read_manifest(p) if not e["file"].endswith(".rejected"))
        else:
            yield from ((p, e) for e in read_manifest(p.parent) if e["file"] == p.name)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("paths", nargs="+", type=Path)
    ap.add_argument("--images", type=Path, default=Path("samples/heldout"))
    ap.add_argument("--noise", action="append", default=None)
    ap.add_argument("--json", type=Path, default=None, help="also write the rows here")
    args = ap.parse_args()
    rows = []
    for path, entry in entries(args.paths):
        wpath = weights_for_entry(entry)
        model, _ = load_weights(wpath)
        tile, z = entry["tile"][0], entry["z"]
        runner = load_runner(get_format(entry["format"]).runtime, path, entry)
        for noise in args.noise or ["camera:iso3200"]:
            photos, ref = references(model, wpath, tile, z, args.images, noise)
            drops, err, raw, outlier = [], 0.0, 0.0, None
            for k, ((clean, noisy), r) in enumerate(zip(photos, ref)):
                out = denoise_array(noisy, runner.run, tile, default_overlap(tile))
                raw = max(raw, float(np.abs(out - r).max()))
                out, r = np.clip(out, 0, 1), np.clip(r, 0, 1)
                drops.append(psnr(clean, r) - psnr(clean, out))
                diff = np.abs(out - r)
                if float(diff.max()) > err:  # the largest error: which of the two is nearer the clean photo there
                    err = float(diff.max())
                    at = np.unravel_index(int(diff.argmax()), diff.shape)
                    outlier = {
                        "photo": k,
                        "pixel": [int(v) for v in at],
                        "fp32_err_vs_clean": round(float(abs(r[at] - clean[at])), 4),
                        "artifact_err_vs_clean": round(float(abs(out[at] - clean[at])), 4),
                    }
            row = {
                "artifact": path.name,
                "noise": noise,
                "mean_drop_db": round(float(np.mean(drops)), 4),
                "worst_drop_db": round(float(np.max(drops)), 4),
                "per_photo_db": [round(d, 4) for d in drops],
                "max_abs_err": round(err, 4),  # clipped output vs clipped PyTorch FP32
                "max_abs_err_at": outlier,
                "max_abs_err_raw": round(raw, 4),  # before clipping
            }
            rows.append(row)
            print(json.dumps(row), flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
