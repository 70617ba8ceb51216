"""Studies of every-op int8 in the fake-quant model of the converters (docs/int8.md): ranges from the export's own
calibration crops (16 noisy 256² crops of ``samples/calibration``), scored on seeded noisy crops of ``samples/clean``
(8-bit noisy inputs, as photos are) against the float model, never on the held-out photos.

    PYTHONPATH=. python scripts/int8_sim.py --study rewrites --variant compact --tile 128 --crops 16
    PYTHONPATH=. python scripts/int8_sim.py --study bits --variant compact --tile 128 --crops 16
    PYTHONPATH=. python scripts/int8_sim.py --study classes --variant compact --tile 128 --crops 16

``rewrites`` ("Splitting the concatenations"): the denoiser as bundled, cross-layer equalized, split by channel group
(``model.split``), and both. ``bits`` ("One bit short"): on the equalized, split graph (``android-npu-int8``'s), the
drop with every activation at 8 to 12 bits, with the residual blocks' hidden path and the coupling state at different
bits, with a range per channel instead of per tensor (the bound of any channel-group split), and how much of the 8-bit
output error is a per-channel bias (what bias correction could remove). ``classes`` ("Where the bit goes"): the
state's quantization points grouped by kind (the forward ``y1 = x1 + F(x2)``, the reverse ``x1 = y1 - F(x2)``, the
subnets' outputs, the ``exp(s)`` chains, ...): each kind alone at 8 bits in the mixed recipe, each kind alone at 16
bits with everything else at 8, and the largest kinds together at 16.

Columns: the PSNR-vs-clean drop against float, mean over the crops where the int8 output stays within 0.2 of float
everywhere (on the others the float model itself leaves [0, 1] — docs/int8.md, "Outliers" — and the int8 clipping
lands nearer the clean crop), and the PSNR of the int8 simulation vs float.
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

HIDDEN = (".conv1", ".act1", ".conv2", ".act2", ".conv3r")  # the points mark_hidden keeps int8 in the mixed recipes
EXP_CHAIN = ("sig", "sig2", "s", "neg_s", "exp")


def kind(name: str) -> str:
    """The kind of a quantization point of the split graph (``classes`` study): ``hidden`` (the residual blocks'
    hidden path), ``input`` / ``output`` / ``z``, ``haar``, or the pass (``fwd`` / ``rev``) with the coupling
    tensor: ``y1`` (x1 + F), ``y2``, ``mul``, ``x1`` (y1 - F), ``x2``, ``sub`` (y2 - G), ``exp chain``,
    ``subnet out``."""
    if name.endswith(HIDDEN):
        return "hidden"
    if name in ("input", "output", "z"):
        return name
    if "haar" in name or name.startswith("output"):  # output00, output01: the last inverse Haar's terms
        return "haar"
    last = name.rsplit(".", 1)[-1]
    what = "exp chain" if last in EXP_CHAIN else "subnet out" if last in ("conv3", "conv3x") else last
    return ("rev " if ".r." in name else "fwd ") + what


def as_8bit(x: np.ndarray) -> np.ndarray:
    return (np.round(np.clip(x, 0, 1) * 255) / 255).astype(np.float32)


def simulation(base, eq: bool, split: bool) -> QuantSim:
    model = copy.deepcopy(base).eval()
    if eq:
        equalize(model)
    if split:
        split_concats(model)
    sim = QuantSim(Denoiser(model, tile=None).eval())
    sim.observe([torch.from_numpy(as_8bit(f["image"])) for f in calibration_data(None, 256, 16, None)])
    return sim


def row(label: str, s: dict) -> str:
    return f"| {label} | +{s['int8_drop_db']:.3f} | {s['vs_float_db']:.2f} | {s['crops']} |"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--study", choices=("rewrites", "bits", "classes"), default="rewrites")
    ap.add_argument("--variant", default="compact")
    ap.add_argument("--tile", type=int, default=128)
    ap.add_argument("--crops", type=int, default=16, help="scored crops")
    args = ap.parse_args()
    torch.manual_seed(0)
    base, _ = load_weights(default_weights(args.variant))
    teacher = Denoiser(base, tile=None).eval()
    clean, noisy = noisy_crops(sample_photos("clean"), args.tile, args.crops, seed=1)
    x, c = torch.from_numpy(as_8bit(noisy)), torch.from_numpy(clean)
    print(f"{args.variant}, tile {args.tile}, {args.crops} crops, study {args.study}")
    print("| computation | drop vs clean (dB) | PSNR vs float (dB) | crops |")
    print("|---|---|---|---|")
    if args.study == "rewrites":
        for eq, split in ((False, False), (True, False), (False, True), (True, True)):
            label = " + ".join([n for n, on in (("equalize", eq), ("split", split)) if on]) or "none"
            print(row(label, simulation(base, eq, split).score(teacher, x, c)), flush=True)
        return
    sim = simulation(base, True, True)
    if args.study == "classes":
        kinds = sorted({kind(n) for n in sim.ranges} - {"hidden"})
        for k in kinds:
            sim.bits = lambda name, k=k: 8 if name.endswith(HIDDEN) or kind(name) == k else 16
            print(row(f"mixed (hidden 8, state 16), {k} at 8", sim.score(teacher, x, c)), flush=True)
        for k in kinds:
            sim.bits = lambda name, k=k: 16 if kind(name) == k else 8
            print(row(f"every activation 8-bit but {k} at 16", sim.score(teacher, x, c)), flush=True)
        for ks in (("fwd y1", "rev x1"), ("fwd y1", "rev x1", "fwd subnet out", "rev subnet out")):
            sim.bits = lambda name, ks=ks: 16 if kind(name) in ks else 8
            print(row(f"every activation 8-bit but {', '.join(ks)} at 16", sim.score(teacher, x, c)), flush=True)
        return
    for b in (8, 9, 10, 11, 12):
        sim.bits = lambda name, b=b: b
        print(row(f"every activation {b}-bit", sim.score(teacher, x, c)), flush=True)
    for hidden, state in ((8, 16), (16, 8)):
        sim.bits = lambda name, h=hidden, s=state: h if name.endswith(HIDDEN) else s
        print(row(f"hidden path {hidden}-bit, state {state}-bit", sim.score(teacher, x, c)), flush=True)
    sim.bits = lambda name: 8
    sim.per_channel = True
    print(row("every activation 8-bit, a range per channel", sim.score(teacher, x, c)), flush=True)
    sim.per_channel = False
    with torch.no_grad():
        err = sim(x) - teacher(x).clamp(0, 1)
    share = float((err.mean(dim=(0, 2, 3)) ** 2).mean() / (err**2).mean())
    print(f"\nthe 8-bit output error's per-channel mean (a bias) is {100 * share:.2f} % of its mean square")


if __name__ == "__main__":
    main()
