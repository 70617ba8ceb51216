"""Quantization-aware fine-tuning of shipped weights for every-op-int8 export (docs/int8.md, "Quantization-aware
fine-tuning").

Warm-started from the float weights, the denoiser runs through :class:`~invdn_mobile.export.fakequant.QuantSim`
(per-channel symmetric int8 weights, per-tensor asymmetric int8 activations on every tensor, straight-through
gradients) on the graph the full-integer recipe converts (cross-layer equalized, concatenations split: exact float
rewrites), and learns to match the float model it started from (distillation: the float model is the teacher, mean
squared error on the image). A second term holds the fine-tuned weights' own float output to the teacher's
(``float_weight``), so the file stays a good float model too. Activation ranges are re-observed every
``observe_every`` steps on the export's own calibration crops (16 noisy 256² crops of ``samples/calibration``), min/max,
as the converter will observe them on the final weights.

Every ``eval_every`` steps the simulation is scored on 16 seeded noisy 128² crops of ``samples/clean`` (the decision
photos of the INT8 work, never the held-out ones): the int8 drop of PSNR vs clean against the teacher, and the float
drop. The weights kept are those of the best int8 drop among the scores whose float drop is within
``FLOAT_BUDGET`` (the starting weights, scored first, included), merged back into an ordinary (unsplit, equalized)
InvDN that any export reads.

    invdn qat --variant compact --minutes 60 --data data/photos/train -o invdn-compact-qat.safetensors

It runs on the CPU (886 steps of 8 x 64² crops took 40 minutes on the two-core development machine, scores
included) or on CUDA (``--device cuda``; ``scripts/gpu_session.sh qat``).
"""

from __future__ import annotations

import copy
import math
import time
from pathlib import Path

import numpy as np
import torch

from invdn_mobile.data.dataset import CropDataset, load_uint8
from invdn_mobile.errors import InvdnError
from invdn_mobile.export.fakequant import QuantSim
from invdn_mobile.export.photos import CALIBRATION_NOISE, calibration_data, noisy_crops, sample_photos
from invdn_mobile.imageio import list_images
from invdn_mobile.model import Denoiser
from invdn_mobile.model.equalize import equalize
from invdn_mobile.model.split import merge_split, split_concats
from invdn_mobile.noise import parse_noise
from invdn_mobile.tiling import DEFAULT_TILE

FLOAT_BUDGET = 0.05  # dB the fine-tuned weights may lose in float (issue 21)
DECISION_CROPS, DECISION_TILE = 16, 128


def _score(sim: QuantSim, teacher: Denoiser, noisy: torch.Tensor, clean: torch.Tensor) -> tuple[float, float]:
    s = sim.score(teacher, noisy, clean)
    return s["int8_drop_db"], s["float_drop_db"]


def finetune(
    model,
    data: Path | None = None,
    minutes: float = 30.0,
    crop: int = 64,
    batch: int = 4,
    lr: float = 2e-5,
    float_weight: float = 1.0,
    observe_every: int = 200,
    eval_every: int = 250,
    seed: int = 0,
    max_steps: int | None = None,
    calibration: Path | None = None,
    calibration_tile: int = DEFAULT_TILE,
    calibration_count: int = 16,
    decision: tuple[int, int] = (DECISION_CROPS, DECISION_TILE),
    device: str = "cpu",
    z: tuple[int, float] = (0, 1.0),
    log=print,
) -> dict:
    """Fine-tune ``model`` in place (it ends equalized, with the kept weights) for ``minutes`` or ``max_steps``;
    returns what was done, for the weights' model card. ``z``: the weights' z_HF seed and scale."""
    log = log or (lambda _msg: None)
    torch.manual_seed(seed)
    dev = torch.device(device)
    teacher = Denoiser(copy.deepcopy(model).to(dev).eval(), tile=None, seed=z[0], z_scale=z[1]).eval()
    equalize(model)  # exact: the float function is unchanged
    student = copy.deepcopy(model).to(dev)
    split_concats(student)
    sim = QuantSim(Denoiser(student, tile=None, seed=z[0], z_scale=z[1]))
    feeds = [
        torch.from_numpy(f["image"]).to(dev)
        for f in calibration_data(calibration, calibration_tile, calibration_count, None)
    ]
    clean_d, noisy_d = (
        torch.from_numpy(a).to(dev) for a in noisy_crops(sample_photos("clean"), decision[1], decision[0], seed=1)
    )
    train_dir = sample_photos("calibration", data)
    crops = CropDataset(load_uint8(list_images(train_dir), crop), crop, seed)
    noise = parse_noise(CALIBRATION_NOISE)
    gen = torch.Generator().manual_seed(seed)
    sim.observe(feeds)
    q0, f0 = _score(sim, teacher, noisy_d, clean_d)
    history = [{"step": 0, "int8_drop_db": round(q0, 4), "float_drop_db": round(f0, 4)}]
    log(f"step 0: int8 drop {q0:+.3f} dB, float drop {f0:+.3f} dB (samples/clean, {decision[0]} x {decision[1]}²)")
    best = (q0, 0, copy.deepcopy(student.state_dict()))
    params = [p for p in student.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=lr)
    started, step, losses = time.perf_counter(), 0, []
    budget_s = 60 * minutes

    def fraction() -> float:
        done = (time.perf_counter() - started) / budget_s
        return max(done, step / max_steps) if max_steps else done

    while fraction() < 1.0:
        for group in opt.param_groups:  # cosine decay over the budget (time or steps)
            group["lr"] = lr * 0.5 * (1 + math.cos(math.pi * min(fraction(), 1.0)))
        clean = torch.stack([crops[step * batch + i] for i in range(batch)])
        x = noise(clean, gen).to(dev)
        with torch.no_grad():
            target = teacher(x)
        sim.mode = "quant"
        loss = ((sim(x) - target.clamp(0, 1)) ** 2).mean()  # the int8 output is pinned to [0, 1]
        if float_weight > 0:
            sim.mode = "float"
            loss = loss + float_weight * ((sim(x) - target) ** 2).mean()
            sim.mode = "quant"
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
        step += 1
        if step % observe_every == 0 or step % eval_every == 0:
            sim.observe(feeds)
        if not math.isfinite(losses[-1]):
            raise InvdnError(f"quantization-aware fine-tuning diverged at step {step}: the loss is {losses[-1]} "
                             f"(try a lower learning rate than {lr:g})")
        if step % eval_every == 0:
            q, f = _score(sim, teacher, noisy_d, clean_d)
            if not (math.isfinite(q) and math.isfinite(f)):
                raise InvdnError(f"quantization-aware fine-tuning diverged at step {step}: its score is {q} dB "
                                 f"(int8) / {f} dB (float) (try a lower learning rate than {lr:g})")
            history.append({"step": step, "int8_drop_db": round(q, 4), "float_drop_db": round(f, 4)})
            if q < best[0] and f <= FLOAT_BUDGET:
                best = (q, step, copy.deepcopy(student.state_dict()))
            elapsed, mean_loss = time.perf_counter() - started, np.mean(losses[-eval_every:])
            log(f"step {step}: loss {mean_loss:.3e}, int8 drop {q:+.3f} dB, float drop {f:+.3f} dB ({elapsed:.0f} s)")
    student.load_state_dict(best[2])
    merge_split(student.cpu(), model)
    model.eval()
    return {
        "method": "quantization-aware fine-tuning on the every-op-int8 graph (equalized, concatenations split): "
        "fake-quant per-channel symmetric int8 weights, per-tensor asymmetric int8 activations on every tensor, "
        f"min/max ranges re-observed every {observe_every} steps on the export's calibration crops; "
        "straight-through gradients",
        "loss": f"MSE of the int8 simulation to the float teacher + {float_weight} x MSE of the float model to it",
        "steps": step,
        "kept_step": best[1],
        "batch": batch,
        "crop": crop,
        "lr": lr,
        "schedule": "cosine to 0 over the budget",
        "optimizer": "Adam",
        "device": device,
        "wall_time_s": round(time.perf_counter() - started, 1),
        "data": sorted(p.name for p in list_images(train_dir)),
        "noise": CALIBRATION_NOISE,
        "decision": f"samples/clean, {decision[0]} noisy crops of {decision[1]}² (seed 1)",
        "history": history,
        "final_loss": round(float(np.mean(losses[-eval_every:])), 8) if losses else None,
    }
