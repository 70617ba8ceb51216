"""Every-op-int8 simulation of the exact float rewrites (docs/int8.md, "Splitting the concatenations"): the
fake-quant model of the converters on the denoiser as bundled, cross-layer equalized, split by channel group
(``model.split``), and both; ranges from noisy crops of ``samples/calibration``, scored on seeded noisy crops of
``samples/clean`` (8-bit noisy inputs, as photos are), against the same model in float.

    PYTHONPATH=. python scripts/int8_sim.py --variant compact --tile 128 --crops 16

Columns: PSNR of the int8 simulation vs float (higher: less quantization error), and the PSNR-vs-clean drop, mean
over the crops where the int8 output stays within 0.2 of float everywhere (on the others the float model itself
leaves [0, 1] — see docs/int8.md, "Outliers" — and the int8 clipping lands nearer the clean crop).
"""

from __future__ import annotations

import argparse
import copy

import numpy as np
import torch

from invdn_mobile.export.fakequant import QuantSim
from invdn_mobile.export.photos import calibration_data, noisy_crops, sample_photos
from invdn_mobile.model import Denoiser
from invdn_mobile.model.checkpoint import default_weights, load_weights
from invdn_mobile.model.equalize import equalize
from invdn_mobile.model.split import split_concats


def as_8bit(x: np.ndarray) -> np.ndarray:
    return (np.round(np.clip(x, 0, 1) * 255) / 255).astype(np.float32)


def psnr(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return -10 * torch.log10(((a.clamp(0, 1) - b) ** 2).mean(dim=(1, 2, 3)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--variant", default="compact")
    ap.add_argument("--tile", type=int, default=128)
    ap.add_argument("--crops", type=int, default=16, help="scored crops (16 calibration crops)")
    args = ap.parse_args()
    torch.manual_seed(0)
    base, _ = load_weights(default_weights(args.variant))
    feeds = [as_8bit(f["image"]) for f in calibration_data(None, args.tile, 16, None)]
    clean, noisy = noisy_crops(sample_photos("clean"), args.tile, args.crops, seed=1)
    x, c = torch.from_numpy(as_8bit(noisy)), torch.from_numpy(clean)
    print(f"{args.variant}, tile {args.tile}, {args.crops} crops")
    print("| rewrite | PSNR int8 vs float (dB) | drop vs clean, mean of well-behaved crops (dB) | crops |")
    print("|---|---|---|---|")
    for eq, split in ((False, False), (True, False), (False, True), (True, True)):
        model = copy.deepcopy(base).eval()
        if eq:
            equalize(model)
        if split:
            split_concats(model)
        sim = QuantSim(Denoiser(model, tile=(args.tile, args.tile)).eval())
        with torch.no_grad():
            sim.mode = "observe"
            for f in feeds:
                sim(torch.from_numpy(f))
            sim.calibrate("minmax")
            sim.mode = "float"
            ref = sim(x)
            sim.mode = "quant"
            q = sim(x)
        good = (q.clamp(0, 1) - ref.clamp(0, 1)).abs().amax(dim=(1, 2, 3)) < 0.2
        drop = (psnr(ref, c) - psnr(q, c))[good]
        label = " + ".join([n for n, on in (("equalize", eq), ("split", split)) if on]) or "none"
        vs_float = float(psnr(q, ref.clamp(0, 1)).mean())
        print(
            f"| {label} | {vs_float:.2f} | +{float(drop.mean()):.3f} | {int(good.sum())} of {len(good)} |", flush=True
        )


if __name__ == "__main__":
    main()
