"""The quality/cost frontier of the model variants, from one run: params, GMAC per 256² tile, CPU latency per 256²
tile (PyTorch eager, the fastest FP32 artifact and the fastest INT8 artifact that passed its export gate, timed with
the benchmark harness on this machine), and PSNR/SSIM on unseen photos for every noise, BM3D and NLM beside."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path

import torch

from invdn_mobile.atomic import atomic_write_bytes
from invdn_mobile.bench.backends import artifact_backends, torch_backends
from invdn_mobile.bench.harness import Settings, machine_facts, run_bench
from invdn_mobile.denoise import load_denoiser
from invdn_mobile.evaluate.run import evaluate
from invdn_mobile.export.manifest import sha256
from invdn_mobile.model.checkpoint import default_weights
from invdn_mobile.model.macs import model_macs
from invdn_mobile.tiling import DEFAULT_TILE

TILE = DEFAULT_TILE  # the artifacts' tile: GMAC and latency per tile are read there


def _latencies(variant: str, artifacts: Path, settings: Settings) -> dict:
    """Only artifacts exported from the bundled weights count: latency does not depend on the weights, but the
    gate a stale artifact passed does."""

    bundled = default_weights(variant)
    current = sha256(bundled) if bundled else None
    backends = torch_backends(None, variant, "cpu", TILE, compile_=False)
    backends += [
        b
        for b in artifact_backends(artifacts, "cpu", [variant])
        if b.make is not None
        and b.tile == TILE
        and b.parity.get("parity_status") == "pass"
        and b.weights_sha256 == current
    ]
    rows = [r for r in run_bench(backends, [(TILE, TILE)], settings, {}) if r["status"] == "ok"]

    def fastest(precisions: tuple[str, ...]) -> dict | None:
        found = [r for r in rows if r["format"] != "pytorch" and r["precision"] in precisions]
        return min(found, key=lambda r: r["median_ms"]) if found else None

    eager = next((r for r in rows if r["backend"] == "torch-eager"), None)
    out = {"torch_eager_ms": eager["median_ms"] if eager else None}
    for key, precisions in (("fp32", ("fp32",)), ("int8", ("int8", "int8dyn", "int8w"))):
        best = fastest(precisions)
        out[f"{key}_ms"] = best["median_ms"] if best else None
        out[f"{key}_artifact"] = f"{best['target']} ({best['backend']}, {best['precision']})" if best else None
    return out


def frontier(
    data: Path,
    noises: list[str],
    variants: list[str],
    baselines: list[str],
    artifacts: Path,
    settings: Settings,
    seed: int = 0,
    limit: int | None = None,
    on_step: Callable[[str], None] | None = None,
) -> dict:

    denoisers = {v: load_denoiser(None, v, torch.device("cpu"))[0] for v in variants}
    quality = evaluate(
        data, noises, None, baselines=baselines, seed=seed, limit=limit, on_step=on_step, variants=denoisers
    )
    points = []
    for name, den in denoisers.items():
        if on_step:
            on_step(f"latency {name}")
        points.append(
            {
                "variant": name,
                "params": den.model.num_params(),
                "gmacs_256": round(model_macs(den.model, TILE, TILE)["denoiser"] / 1e9, 3),
                **_latencies(name, artifacts, settings),
            }
        )
    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine": machine_facts("cpu"),
        "data": str(data),
        "images": quality[0].images if quality else 0,
        "noises": noises,
        "variants": points,
        "quality": [r.to_dict() for r in quality],
    }


def markdown(result: dict) -> str:
    noises = result["noises"]
    quality = {(q["method"], q["noise"]): q for q in result["quality"]}
    head = "| method | params | GMAC / 256² | CPU ms / 256²: PyTorch | FP32 artifact | best INT8 artifact | "
    head += " | ".join(f"{n} PSNR / SSIM (gain)" for n in noises) + " |"
    lines = [head, "|" + "---|" * (6 + len(noises))]

    def scores(method: str) -> str:
        cells = []
        for n in noises:
            q, base = quality.get((method, n)), quality.get(("noisy", n))
            cells.append("—" if q is None else f"{q['psnr']:.2f} / {q['ssim']:.3f} ({q['psnr'] - base['psnr']:+.2f})")
        return " | ".join(cells)

    def ms(value, what=None) -> str:
        return "—" if value is None else f"{value:.0f}" + (f" ({what})" if what else "")

    for p in result["variants"]:
        lines.append(
            f"| InvDN {p['variant']} | {p['params']:,} | {p['gmacs_256']:.2f} | {ms(p['torch_eager_ms'])} "
            f"| {ms(p['fp32_ms'], p['fp32_artifact'])} | {ms(p['int8_ms'], p['int8_artifact'])} "
            f"| {scores('invdn-' + p['variant'])} |"
        )
    for method in sorted(
        {q["method"] for q in result["quality"]} - {f"invdn-{p['variant']}" for p in result["variants"]}
    ):
        lines.append(f"| {method} | — | — | — | — | — | {scores(method)} |")
    m = result["machine"]
    lines.append("")
    lines.append(
        f"{result['images']} unseen photos from `{result['data']}`; latency on {m['cpu']} ({m['cores']} cores), "
        f"{result['date']}; INT8 = fastest artifact that passed its export gate."
    )
    return "\n".join(lines)


def save(result: dict, path: Path) -> list[Path]:
    """``path`` (JSON) and the Markdown table beside it (``.md``)."""
    path = Path(path)
    atomic_write_bytes(path, (json.dumps(result, indent=1) + "\n").encode())
    atomic_write_bytes(path.with_suffix(".md"), (markdown(result) + "\n").encode())
    return [path, path.with_suffix(".md")]
