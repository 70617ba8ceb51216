"""Quantization-aware fine-tuning of shipped weights for full-integer INT8 (docs/int8.md).

Warm-started from the float weights, the denoiser runs through :class:`~invdn_mobile.export.fakequant.QuantSim`
(per-channel symmetric int8 weights, per-tensor asymmetric int8 activations with the ranges the converters calibrate,
straight-through gradients) and learns to match the float model's own output (distillation: the float model is the
teacher, so the fine-tuned weights keep its behaviour) plus the clean photo, on noisy crops of the calibration photos
(training photos, never the parity or held-out ones). Activation ranges are re-observed every ``observe_every`` steps
on the calibration crops, as the converter will observe them on the final weights.

    PYTHONPATH=. python -m invdn_mobile.export.qat --variant compact --minutes 30 -o invdn-compact-qat.safetensors
"""

from __future__ import annotations

import argparse
import copy
import time
from pathlib import Path

import numpy as np
import torch

from invdn_mobile.export.fakequant import QuantSim
from invdn_mobile.export.photos import calibration_data, noisy_crops, sample_photos
from invdn_mobile.model import Denoiser
from invdn_mobile.model.checkpoint import default_weights, load_weights, read_meta, save_weights


def observe(sim: QuantSim, feeds: list[np.ndarray]) -> None:
    sim.stats.clear()
    sim.mode = "observe"
    with torch.no_grad():
        for f in feeds:
            sim(torch.from_numpy(f))
    sim.calibrate("minmax")


def finetune(
    model,
    calibration: Path | None,
    minutes: float,
    crop: int = 96,
    batch: int = 4,
    lr: float = 2e-5,
    clean_weight: float = 0.5,
    observe_every: int = 100,
    seed: int = 0,
    max_steps: int | None = None,
    calibration_tile: int = 256,
    log=print,
) -> dict:
    """Fine-tune ``model`` in place for ``minutes`` (or ``max_steps``); returns what was done (for the weights'
    model card)."""
    torch.manual_seed(seed)
    teacher = copy.deepcopy(model).eval()
    photos = sample_photos("calibration", calibration)
    feeds = [f["image"] for f in calibration_data(photos, calibration_tile, 8, None)]
    sim = QuantSim(Denoiser(model, tile=(crop, crop)))
    observe(sim, feeds)
    sim.mode = "quant"
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=lr)
    started, step, losses = time.perf_counter(), 0, []
    deadline = started + 60 * minutes
    while time.perf_counter() < deadline and (max_steps is None or step < max_steps):
        clean, noisy = noisy_crops(photos, crop, batch, seed=seed * 100_003 + step)
        x, c = torch.from_numpy(noisy), torch.from_numpy(clean)
        k = step % 8  # the eight flips / rotations
        x, c = (torch.rot90(t, k % 4, (2, 3)) for t in (x, c))
        if k >= 4:
            x, c = x.flip(3), c.flip(3)
        with torch.no_grad():
            target = Denoiser(teacher, tile=None, seed=sim.d.seed)(x)
        out = sim(x)
        loss = (out - target).abs().mean() + clean_weight * (out - c).abs().mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
        step += 1
        if step % observe_every == 0:
            observe(sim, feeds)
            sim.mode = "quant"
            log(f"step {step}: loss {np.mean(losses[-observe_every:]):.5f} ({time.perf_counter() - started:.0f} s)")
    model.eval()
    return {
        "method": "quantization-aware fine-tuning (fake-quant: per-channel symmetric int8 weights, per-tensor "
        "asymmetric int8 activations on every tensor, min/max ranges re-observed every "
        f"{observe_every} steps; straight-through gradients)",
        "loss": f"L1 to the float model's output + {clean_weight} x L1 to the clean crop",
        "steps": step,
        "batch": batch,
        "crop": crop,
        "lr": lr,
        "optimizer": "Adam",
        "wall_time_s": round(time.perf_counter() - started, 1),
        "data": sorted(p.name for p in photos.iterdir()),
        "noise": "camera+awgn:5-50",
        "final_loss": round(float(np.mean(losses[-observe_every:])), 6) if losses else None,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--variant", default="compact")
    ap.add_argument("--weights", type=Path, default=None)
    ap.add_argument("--calibration", type=Path, default=None)
    ap.add_argument("--minutes", type=float, default=30.0)
    ap.add_argument("--lr", type=float, default=2e-5)
    ap.add_argument("--crop", type=int, default=96)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("-o", "--out", type=Path, required=True)
    args = ap.parse_args()
    torch.set_num_threads(1)  # on a shared 2-core machine more threads oversubscribe and run several times slower
    source = args.weights or default_weights(args.variant)
    model, _ = load_weights(source, args.variant)
    record = finetune(model, args.calibration, args.minutes, args.crop, args.batch, args.lr, log=print)
    meta = read_meta(source)
    meta["qat"] = record | {"warm_start": Path(source).name}
    save_weights(args.out, model, meta)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
