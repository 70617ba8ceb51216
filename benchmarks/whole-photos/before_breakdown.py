"""The 12 MP breakdown of `invdn denoise` as it was before streaming (main at e770231), step by step with the
functions that version calls. Run it from a checkout of e770231 (its `invdn_mobile` first on the path), e.g.
`git worktree add /tmp/before e770231 && cd /tmp/before && OMP_NUM_THREADS=1 python before_breakdown.py photo.png
out.png 1 compact` (photo, output, torch threads, variant). Written for issue 37 on 2026-12-07; the current code
prints the same steps itself (`invdn denoise --profile`)."""

import resource
import sys
import time
from pathlib import Path

import numpy as np
import torch

from invdn_mobile.denoise import denoise_array, ensemble_fn, load_denoiser
from invdn_mobile.imageio import read_image, write_image
from invdn_mobile.strength import blend, curve_of, estimate_sigma

torch.set_num_threads(int(sys.argv[3]))
denoiser, meta = load_denoiser(None, sys.argv[4], torch.device("cpu"))
model = ensemble_fn(denoiser)
network = [0.0]


def fn(batch):
    t = time.perf_counter()
    out = model(batch)
    network[0] += time.perf_counter() - t
    return out


s = {}
t0 = time.perf_counter()
t = time.perf_counter()
photo = read_image(sys.argv[1])
s["decode"] = time.perf_counter() - t
t = time.perf_counter()
strength = curve_of(meta)(estimate_sigma(photo.rgb))
s["sigma"] = time.perf_counter() - t
t = time.perf_counter()
denoised = denoise_array(photo.rgb, fn, 256, 32, 4, 1)
tiled = time.perf_counter() - t
s["network"] = network[0]
s["tiles+blend"] = tiled - network[0]
t = time.perf_counter()
out = photo.with_rgb(np.clip(blend(photo.rgb, denoised, strength), 0, 1))
s["strength"] = time.perf_counter() - t
t = time.perf_counter()
write_image(Path(sys.argv[2]), out)
s["encode"] = time.perf_counter() - t
s["total"] = time.perf_counter() - t0
s["host"] = s["total"] - s["network"]
steps = " | ".join(f"{k} {v:.3f} s" for k, v in s.items())
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
print(f"before (e770231) {sys.argv[1]} torch threads {torch.get_num_threads()} {steps} maxrss MB {rss}")
