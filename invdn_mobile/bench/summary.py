"""The README's one summary table, generated from the files where the numbers live: the variants' frontier
(``benchmarks/frontier.json``: params, GMAC, quality) and the benchmark results (``benchmarks/results/*.json``:
artifact sizes, latency). ``invdn report`` rewrites it between the ``summary`` markers in README.md
(:mod:`invdn_mobile.bench.generated`); a test checks it is current.
"""

from __future__ import annotations

import json
from pathlib import Path

from invdn_mobile.bench.report import parity_status
from invdn_mobile.errors import InvdnError

SIZE = "256x256"


def _passed(row: dict) -> bool:
    """A row that counts: PyTorch (the reference, no gate) or an artifact that was executed on the parity set and
    passed (``unverified`` and ``fail`` never count)."""
    return parity_status(row) in (None, "pass")


def _timed(row: dict) -> bool:
    return row.get("status") == "ok" and row.get("median_ms") is not None


def _cpu_results(results: Path) -> list[tuple[Path, dict]]:
    docs = []
    for path in sorted(results.glob("*.json")):
        doc = json.loads(path.read_text())
        if not doc["machine"].get("gpu") and doc["machine"].get("kind") == "desktop" and "rows" in doc:
            docs.append((path, doc))
    return docs


def summary_table(frontier: Path, results: Path) -> str:
    """Markdown: per variant its params, GMAC, quality gains, smallest passing artifact, fastest passing CPU row."""
    if not frontier.is_file():
        raise InvdnError(f"{frontier}: no frontier file (invdn evaluate --variants ... --save {frontier})")
    front = json.loads(frontier.read_text())
    noises = front["noises"]
    quality = {(q["method"], q["noise"]): q["psnr"] for q in front["quality"]}
    docs = _cpu_results(results)
    head = (
        "| variant | params | GMAC / 256² | "
        + " | ".join(f"gain, {n} (dB)" for n in noises)
        + " | smallest passing artifact | fastest passing CPU run, ms / 256² |"
    )
    lines = [head, "|" + "---|" * (5 + len(noises))]
    for v in front["variants"]:
        name = v["variant"]
        gains = [quality[(f"invdn-{name}", n)] - quality[("noisy", n)] for n in noises]
        rows = [(p, r) for p, d in docs for r in d["rows"] if r.get("variant") == name and _passed(r)]
        artifacts = [r for _, r in rows if r.get("target") and r.get("bytes")]  # timed here or not (Core ML)
        small = min(artifacts, key=lambda r: r["bytes"], default=None)
        timed = [(p, r) for p, r in rows if r.get("size") == SIZE and _timed(r)]
        fast = min(timed, key=lambda pr: pr[1]["median_ms"], default=None)
        size_cell = f"{small['bytes'] / 1e6:.2f} MB ({small['target']})" if small else "—"
        fast_cell = (
            f"{fast[1]['median_ms']:.0f} ({fast[1]['backend']}, {fast[1]['precision']}; "
            f"[{fast[0].name}](benchmarks/results/{fast[0].name}))"
            if fast
            else "—"
        )
        lines.append(
            f"| `{name}` | {v['params']:,} | {v['gmacs_256']:.2f} | "
            + " | ".join(f"{g:+.2f}" for g in gains)
            + f" | {size_cell} | {fast_cell} |"
        )
    lines += [
        "",
        f"Params, GMAC and quality (single pass, {front['images']} unseen photos, {front['date'][:10]}): "
        "[benchmarks/frontier.md](benchmarks/frontier.md), more in [docs/quality.md](docs/quality.md). Sizes and "
        "latency: rows of the committed CPU results whose artifact passed its parity gate "
        "([benchmarks/REPORT.md](benchmarks/REPORT.md)); the parity of every artifact: "
        "[benchmarks/parity.md](benchmarks/parity.md).",
    ]
    return "\n".join(lines)
