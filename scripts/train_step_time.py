"""Median step time of the real training loop (`invdn_mobile.train.loop.train`) on this machine, one process.

    python scripts/train_step_time.py --data samples/clean --steps 30 --threads 1 [--variant compact --crop 32]

Trains a fresh run in a temporary folder with one log record per step (no validation, one checkpoint at the end) and
prints one JSON line: the median wall seconds per step over the steps after the first `--skip` (data loading, noise and
the whole optimisation step included), and the median CPU seconds of this process per step (less sensitive to other
processes on a shared machine). Compare code versions by running it with each on PYTHONPATH, interleaved.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time

import torch

from invdn_mobile.train.config import load_config
from invdn_mobile.train.loop import train


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", default="samples/clean")
    parser.add_argument("--variant", default="compact")
    parser.add_argument("--crop", type=int, default=32)
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--skip", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as out:
        config = load_config(
            None,
            data=args.data,
            out=out,
            variant=args.variant,
            crop=args.crop,
            batch=args.batch,
            steps=args.steps,
            threads=args.threads,
            val_fraction=0.0,
            log_every=1,
            checkpoint_every=args.steps,
            device="cpu",
        )
        records: list[dict] = []

        def log(line: str) -> None:  # called once per step (log_every = 1), right after the step's record
            if line.startswith("{"):
                records.append({**json.loads(line), "cpu_s": time.process_time()})

        train(config, resume=False, progress=False, log=log)
    timed = [r for r in records if r["step"] > args.skip]
    times = [1 / r["it_s"] for r in timed]
    cpu = [b["cpu_s"] - a["cpu_s"] for a, b in zip(records, records[1:]) if b["step"] > args.skip]
    print(
        json.dumps(
            {
                "variant": args.variant,
                "crop": args.crop,
                "batch": args.batch,
                "threads": torch.get_num_threads(),
                "steps_timed": len(times),
                "median_s_per_step": round(statistics.median(times), 4),
                "min_s_per_step": round(min(times), 4),
                "median_cpu_s_per_step": round(statistics.median(cpu), 4),
            }
        )
    )


if __name__ == "__main__":
    main()
