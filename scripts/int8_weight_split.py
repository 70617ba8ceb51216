"""Why 8-bit weights lose on the stress photos, and what splitting the blocks' concatenations changes (docs/int8.md,
"Weights: split the concatenation"). PyTorch only, no converter: each convolution's weights rounded to symmetric
per-output-channel int8 (what Core ML's ``linear_symmetric`` and ai-edge-quantizer's weight-only int8 store), float
activations; executed on the parity cases that lose the most (held-out and stress photos, tile 256, the weights'
z) and gated like an INT8 artifact. Ablations: which convolutions carry the loss, and whether the split's gain is
the separate scales (the split graph with the two parts forced onto the joint scale reproduces the unsplit loss).
Also the weights' statistic behind it: per output channel of each block's last convolution, the largest weight on
the block's input against the largest on its hidden channels.

Usage: PYTHONPATH=. python scripts/int8_weight_split.py [--variant compact] [--out FILE]
(default FILE: benchmarks/int8/weight-split-DATE-VARIANT.json)
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import datetime
import json
from pathlib import Path

import numpy as np
import torch

from invdn_mobile.atomic import atomic_write_bytes
from invdn_mobile.denoise import resolve_weights
from invdn_mobile.export.references import parity_reference
from invdn_mobile.gates import INT8_GATE
from invdn_mobile.model import Denoiser
from invdn_mobile.model.checkpoint import load_weights
from invdn_mobile.model.split import split_concats
from invdn_mobile.parity import DEFAULT_NOISES, measure

CASES = (  # the cases the unsplit weights lose most on (int8_stress.py runs), and the held-out photos' worst
    "skimage-retina camera:iso3200",
    "skimage-clock_motion awgn:15",
    "skimage-logo camera:iso3200",
    "skimage-logo awgn:15",
    "brick.png awgn:15",
    "hubble.png camera:iso3200",
)


def rounded(w: torch.Tensor, scale: torch.Tensor | None = None) -> torch.Tensor:
    """``w`` on the symmetric int8 grid of ``scale`` (default: its own per-output-channel scale)."""
    if scale is None:
        scale = w.abs().amax(dim=(1, 2, 3), keepdim=True).clamp_min(1e-12) / 127
    return torch.round(w / scale).clamp(-127, 127) * scale


class Runner:
    evaluator, arithmetic = "torch-int8-weights", None

    def __init__(self, denoiser) -> None:
        self.denoiser = denoiser

    def problems(self) -> list[str]:
        return []

    @torch.inference_mode()
    def run(self, batch: np.ndarray) -> np.ndarray:
        return self.denoiser(torch.from_numpy(np.asarray(batch, dtype=np.float32))).numpy()


def input_to_hidden_ratio(model) -> np.ndarray:
    """Per output channel of every block's last convolution: max |w| over the block-input channels / over the hidden."""
    modules, ratios = dict(model.named_modules()), []
    for name, conv in modules.items():
        if name.endswith(".conv3"):
            block = modules[name.rsplit(".", 1)[0]]
            c = conv.in_channels - block.conv2.out_channels  # conv3(cat(x, r)): x first
            w = conv.weight.detach()
            ratios.append((w[:, :c].abs().amax(dim=(1, 2, 3)) / w[:, c:].abs().amax(dim=(1, 2, 3))).numpy())
    return np.concatenate(ratios)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--variant", default="compact")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    torch.set_num_threads(1)
    path = resolve_weights(None, args.variant)
    model, meta = load_weights(path, args.variant)
    z = meta.get("z", {})
    seed, scale = int(z.get("seed", 0)), float(z.get("scale", 1.0))
    pset = parity_reference(model, path, 256, seed, scale, None, DEFAULT_NOISES)
    keep = [i for i, c in enumerate(pset.cases) if f"{c.photo} {c.noise}" in CASES]
    pset = dataclasses.replace(
        pset, cases=[pset.cases[i] for i in keep], reference=[pset.reference[i] for i in keep], tiled=None,
        tiled_reference=None, tiled_reference_clipped=None,
    )  # fmt: skip
    base = Denoiser(model, tile=(256, 256), seed=seed, z_scale=scale).eval()
    split_base = copy.deepcopy(base)
    split_concats(split_base.model)
    split_modules = dict(split_base.named_modules())

    def joint(name: str, conv) -> torch.Tensor:  # the split parts on the scale of the unsplit convolution
        block = name.rsplit(".", 1)[0]
        w = torch.cat((split_modules[block + ".conv3x"].weight, split_modules[block + ".conv3r"].weight), 1)
        return rounded(conv.weight, w.abs().amax(dim=(1, 2, 3), keepdim=True) / 127)

    last = lambda n: n.endswith("conv3")  # noqa: E731
    experiments = {  # name -> (split graph?, rule(name, conv) -> new weight or None to keep float)
        "unsplit: every convolution": (False, lambda n, c: rounded(c.weight)),
        "unsplit: the blocks' last convolutions only": (False, lambda n, c: rounded(c.weight) if last(n) else None),
        "unsplit: all but the blocks' last convolutions": (False, lambda n, c: None if last(n) else rounded(c.weight)),
        "split: every convolution": (True, lambda n, c: rounded(c.weight)),
        "split, the two parts on the joint scale": (
            True,
            lambda n, c: joint(n, c) if n.endswith(("conv3x", "conv3r")) else rounded(c.weight),
        ),
    }
    rows = []
    for label, (split, rule) in experiments.items():
        denoiser = copy.deepcopy(split_base if split else base)
        with torch.no_grad():
            for name, conv in denoiser.named_modules():
                if isinstance(conv, torch.nn.Conv2d) and (w := rule(name, conv)) is not None:
                    conv.weight.copy_(w)
        row = measure(label, "pytorch", "int8", Runner(denoiser), pset, INT8_GATE)
        rows.append({
            "experiment": label, "status": row.status, "drop_mean_db": round(row.drop_db, 4),
            "drop_worst_db": round(row.drop_worst_db, 4), "worst_case": row.worst_drop_case,
            "max_abs_err": round(row.max_abs_err, 5),
        })  # fmt: skip
        print(json.dumps(rows[-1]), flush=True)
    ratios = {}
    for variant in ("compact", "paper"):  # the statistic of both bundled weights (cheap: no inference)
        ratio = input_to_hidden_ratio(load_weights(resolve_weights(None, variant), variant)[0])
        ratios[variant] = {
            "channels": int(ratio.size),
            **{f"p{q}": round(float(np.percentile(ratio, q)), 3) for q in (10, 50, 90)},
            "min": round(float(ratio.min()), 3),
            "max": round(float(ratio.max()), 3),
        }
    record = {
        "date": datetime.date.today().isoformat(),
        "variant": args.variant,
        "cases": [f"{c.photo} {c.noise}" for c in pset.cases],
        "weight_ratio_input_to_hidden": ratios,
        "rows": rows,
    }
    out = args.out or Path("benchmarks/int8") / f"weight-split-{record['date']}-{args.variant}.json"
    atomic_write_bytes(out, (json.dumps(record, indent=1) + "\n").encode())
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
