"""Measure training-step throughput of FP32, bf16 autocast and channels_last on this machine.

    python scripts/train_speed.py --variant compact --crop 128 --batch 4 --steps 3

Prints one JSON line per setting (median seconds per step after one warm-up step, and megapixels per second).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

from invdn_mobile.model import InvDN, get_variant
from invdn_mobile.train.config import TrainConfig
from invdn_mobile.train.loop import cpu_has_bf16, losses


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--variant", default="compact")
    parser.add_argument("--crop", type=int, default=128)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--steps", type=int, default=3)
    args = parser.parse_args()
    config = TrainConfig()
    print(
        json.dumps(
            {
                "cpu_avx512_bf16": cpu_has_bf16(),
                "torch": torch.__version__,
                "cpu_capability": torch.backends.cpu.get_cpu_capability(),
                "threads": torch.get_num_threads(),
            }
        )
    )
    for name, bf16, channels_last in (("fp32", False, False), ("bf16", True, False), ("fp32+cl", False, True)):
        torch.manual_seed(0)
        model = InvDN(get_variant(args.variant))
        clean = torch.rand(args.batch, 3, args.crop, args.crop)
        noisy = (clean + 0.1 * torch.randn_like(clean)).clamp(0, 1)
        if channels_last:
            model = model.to(memory_format=torch.channels_last)
            clean, noisy = (t.contiguous(memory_format=torch.channels_last) for t in (clean, noisy))
        optimizer = torch.optim.Adam(model.parameters(), 2e-4)
        g = torch.Generator().manual_seed(0)
        z = torch.randn(model.z_shape(args.crop, args.crop, args.batch), generator=g)  # z_HF of the reverse pass
        times = []
        for _ in range(args.steps + 1):
            t0 = time.perf_counter()
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                total, _, _ = losses(model, clean, noisy, z, config)
            optimizer.zero_grad()
            total.backward()
            optimizer.step()
            times.append(time.perf_counter() - t0)
        step = statistics.median(times[1:])
        print(
            json.dumps(
                {
                    "variant": args.variant,
                    "setting": name,
                    "batch": args.batch,
                    "crop": args.crop,
                    "s_per_step": round(step, 3),
                    "mpix_per_s": round(args.batch * args.crop**2 / step / 1e6, 4),
                }
            ),
            flush=True,
        )


if __name__ == "__main__":
    main()
