"""``invdn evaluate``: PSNR/SSIM of InvDN (single pass, Monte-Carlo ensemble, x8 ensemble), BM3D, NLM and the noisy
input itself, on the same noisy images, in one run."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from invdn_mobile.denoise import denoise_array, ensemble_fn
from invdn_mobile.errors import InvdnError
from invdn_mobile.evaluate.baselines import BASELINES, run_baseline
from invdn_mobile.imageio import list_images, read_image
from invdn_mobile.metrics import psnr, ssim
from invdn_mobile.noise import make_noisy, parse_noise
from invdn_mobile.strength import blend, estimate_sigma
from invdn_mobile.tiling import DEFAULT_OVERLAP, DEFAULT_TILE


@dataclass
class Row:
    method: str
    noise: str
    psnr: float
    ssim: float
    images: int

    def to_dict(self) -> dict:
        return {
            "method": self.method,
            "noise": self.noise,
            "psnr": round(self.psnr, 3),
            "ssim": round(self.ssim, 4),
            "images": self.images,
        }


def evaluate(
    data: Path,
    noises: list[str],
    denoiser=None,
    samples: int = 1,
    tta: bool = False,
    baselines: list[str] = (),
    tile: int = DEFAULT_TILE,
    overlap: int = DEFAULT_OVERLAP,
    seed: int = 0,
    limit: int | None = None,
    on_step: Callable[[str], None] | None = None,
    variants: dict | None = None,
    strength: Callable[[float], float] | None = None,
) -> list[Row]:
    """Every method on the same seeded noisy copies: ``denoiser`` as "invdn" (+ ensembles; + "invdn-auto", its single
    pass blended by the ``strength`` curve of each noisy image's estimated sigma), each of ``variants`` (name ->
    denoiser) as "invdn-NAME", the ``baselines``, and the noisy input itself."""
    unknown = sorted(set(baselines) - set(BASELINES))
    if unknown:
        raise InvdnError(f"unknown baseline(s) {unknown}; choose from {', '.join(BASELINES)}")
    for spec in noises:
        parse_noise(spec)  # validate before any work
    if samples < 1:
        raise InvdnError(f"--samples must be at least 1, got {samples}")
    if limit is not None and limit < 1:
        raise InvdnError(f"--limit must be at least 1, got {limit}")
    files = list_images(Path(data)) if Path(data).is_dir() else []
    if not files:
        raise InvdnError(f"{data}: no photos to evaluate on")
    files = files[:limit]
    methods: dict[str, Callable[[np.ndarray, float], np.ndarray]] = {}
    if denoiser is not None:
        multiple = denoiser.model.config.multiple

        def invdn_method(fn):
            return lambda noisy, sigma: denoise_array(noisy, fn, tile, overlap, multiple)

        methods["invdn"] = invdn_method(ensemble_fn(denoiser))
        if samples > 1:
            methods[f"invdn-mc{samples}"] = invdn_method(ensemble_fn(denoiser, samples=samples))
        if tta:
            methods["invdn-x8"] = invdn_method(ensemble_fn(denoiser, tta=True))
    for name, model in (variants or {}).items():
        fn = ensemble_fn(model)
        methods[f"invdn-{name}"] = lambda noisy, sigma, fn=fn, m=model.model.config.multiple: denoise_array(
            noisy, fn, tile, overlap, m
        )
    for name in baselines:
        methods[name] = lambda noisy, sigma, name=name: run_baseline(name, noisy, sigma)

    scores: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for n_index, spec in enumerate(noises):
        for f_index, path in enumerate(files):
            clean = read_image(path).rgb
            noisy = make_noisy(clean, spec, seed + 1000 * n_index + f_index)
            sigma = float(np.std(noisy - clean))  # the true noise level, given to the baselines
            outputs = {"noisy": noisy}
            for name, method in methods.items():
                if on_step:
                    on_step(f"{spec} {path.name} {name}")
                outputs[name] = method(noisy, sigma)
            if strength is not None and "invdn" in outputs:
                outputs["invdn-auto"] = blend(noisy, outputs["invdn"], strength(estimate_sigma(noisy)))
            for name, out in outputs.items():
                scores.setdefault((name, spec), []).append((psnr(clean, out), ssim(clean, out)))
    rows = []
    for (name, spec), values in scores.items():
        arr = np.array(values)
        rows.append(Row(name, spec, float(arr[:, 0].mean()), float(arr[:, 1].mean()), len(values)))
    return rows


def markdown_table(rows: list[Row]) -> str:
    lines = ["| method | noise | PSNR (dB) | SSIM | gain vs noisy (dB) | images |", "|---|---|---|---|---|---|"]
    noisy = {r.noise: r.psnr for r in rows if r.method == "noisy"}
    for r in rows:
        gain = r.psnr - noisy.get(r.noise, r.psnr)
        lines.append(f"| {r.method} | {r.noise} | {r.psnr:.2f} | {r.ssim:.4f} | {gain:+.2f} | {r.images} |")
    return "\n".join(lines)
