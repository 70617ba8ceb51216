"""``invdn report``: every committed results file (this machine, GPU runs, phones, browsers) -> ``REPORT.md``, a
self-contained ``report.html`` and the plots beside them. Nothing is measured here; every number comes from a file."""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path

from invdn_mobile.atomic import atomic_write_bytes
from invdn_mobile.bench import schema
from invdn_mobile.errors import InvdnError
from invdn_mobile.export.targets import load_targets
from invdn_mobile.extras import need
from invdn_mobile.gates import GATES
from invdn_mobile.tiling import DEFAULT_OVERLAP, DEFAULT_TILE

REPORT_SIZE = "256x256"
# Which results answer which deployment question: (label, machine kinds, backends, formats)
# (label, machine kinds, backends, formats, variant: the one the target's recipes default to)
TARGET_QUESTIONS = (
    ("Android GPU", ("phone", "tablet"), ("litert-gpu",), ("tflite",), "compact"),
    ("Android CPU", ("phone", "tablet", "server", "desktop"), ("litert-xnnpack", "litert-cpu"), ("tflite",), "compact"),
    (
        "Phone NPU",
        ("phone", "tablet"),
        ("litert-npu", "litert-nnapi", "onnxruntime-qnn"),
        ("tflite", "onnx"),
        "compact",
    ),
    (
        "ExecuTorch CPU",
        ("phone", "tablet", "server", "desktop"),
        ("executorch-xnnpack",),
        ("executorch",),
        "compact",
    ),
    ("iOS", ("phone", "tablet"), ("coreml-ane", "coreml-gpu", "coreml-cpu", "coreml-all"), ("coreml",), "compact"),
    ("Web", ("browser",), ("ort-web-wasm", "ort-web-webgpu"), ("onnx",), "compact"),
    (
        "Server CPU",
        ("server", "desktop"),
        ("onnxruntime-cpu", "torch-eager", "torch-compile"),
        ("onnx", "pytorch"),
        "paper",
    ),
    (
        "Server GPU",
        ("server",),
        ("torch-cuda-eager", "torch-cuda-compile", "onnxruntime-cuda"),
        ("pytorch", "onnx"),
        "paper",
    ),
)


def _fmt(value, spec: str, empty: str = "—") -> str:
    return empty if value is None else format(value, spec)


def parity_status(r: dict) -> str | None:
    """The export parity status of a row's artifact: pass, fail or unverified (a row without ``parity_status``, e.g.
    from before it existed or from an app that does not record it, is unverified); None for a PyTorch row, which is
    the reference itself."""
    if r.get("format") == "pytorch":
        return None
    return r.get("parity_status") or "unverified"


def markdown_rows(rows: list[dict]) -> str:
    """The rows of one run as a Markdown table (``status``: whether the timing ran; ``parity``: the artifact's
    export parity status)."""
    lines = [
        "| backend | target | precision | variant | size | tiles | median ms | p90 ms | × torch eager | GMAC/s "
        "| % of peak | MB | drop dB | status | parity |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        status = r["status"] if r["status"] == "ok" else f"{r['status']}: {r.get('error', '')}"
        peak = r.get("peak_fraction")
        lines.append(
            f"| {r['backend']} | {r.get('target') or '—'} | {r['precision']} | {r.get('variant') or '—'} | {r['size']} "
            f"| {r.get('tiles', 1)} "
            f"| {_fmt(r['median_ms'], '.1f')} | {_fmt(r['p90_ms'], '.1f')} "
            f"| {_fmt(r['speedup_vs_torch_eager'], '.2f')} | {_fmt(r.get('gmacs_per_s'), '.1f')} "
            f"| {_fmt(None if peak is None else 100 * peak, '.0f')} "
            f"| {_fmt(None if r['bytes'] is None else r['bytes'] / 1e6, '.2f')} "
            f"| {_fmt(r.get('parity_drop_db'), '+.3f')} | {status} | {parity_status(r) or '—'} |"
        )
    return "\n".join(lines)


def photo_rows(rows: list[dict]) -> str:
    """Whole-photo rows (``invdn bench photos``: those with a ``breakdown_s``) as a Markdown table: peak resident
    memory of the ``invdn denoise`` process and its seconds per step."""
    steps = ("decode", "sigma", "tiles", "network", "blend", "encode", "total", "host")
    lines = [
        "| variant | size | file | threads | peak RSS GB | " + " | ".join(f"{s} s" for s in steps) + " | status |",
        "|---|---|---|---|---|" + "---|" * len(steps) + "---|",
    ]
    for r in rows:
        seconds = r.get("breakdown_s") or {}
        status = r["status"] if r["status"] == "ok" else f"{r['status']}: {r.get('error', '')}"
        lines.append(
            f"| {r.get('variant') or '—'} | {r['size']} | {r.get('photo_format', '—')} | {_fmt(r.get('threads'), 'd')} "
            f"| {_fmt(None if r.get('peak_mem_bytes') is None else r['peak_mem_bytes'] / 1e9, '.2f')} | "
            + " | ".join(_fmt(seconds.get(s), ".2f" if s in ("network", "total") else ".3f") for s in steps)
            + f" | {status} |"
        )
    return "\n".join(lines)


def load_results(folder: Path) -> list[tuple[Path, dict]]:
    files = sorted(Path(folder).glob("*.json"))
    if not files:
        raise InvdnError(f"{folder}: no results files (run `invdn bench` first)")
    return [(f, schema.load(f)) for f in files]


def _ok(doc: dict) -> list[dict]:
    return [r for r in doc["rows"] if r["status"] == "ok"]


def _label(r: dict) -> str:
    return f"{r['backend']} {r['precision']}" + (f" ({r['variant']})" if r.get("variant") else "")


def recommendations(docs: list[dict]) -> list[str]:
    """One line per deployment target: the fastest measured row whose artifact passed its export parity (PyTorch rows
    need none), or why there is none. A recipe's newest recorded parity stands for all its rows: a file that passed
    an older gate and whose recipe fails a newer one (an export re-checked on the stress photos) is not recommended."""
    latest = latest_parity(docs)
    lines = []
    for label, kinds, backends, formats, variant in TARGET_QUESTIONS:
        best, held_back = None, 0
        for doc in docs:
            if doc["machine"]["kind"] not in kinds:
                continue
            for r in _ok(doc):
                if r["size"] != REPORT_SIZE or r["backend"] not in backends or r["format"] not in formats:
                    continue
                if r.get("variant") not in (variant, None):
                    continue
                if parity_status(r) not in ("pass", None) or latest.get(_recipe_key(r), "pass") != "pass":
                    held_back += 1
                    continue
                if best is None or r["median_ms"] < best[1]["median_ms"]:
                    best = (doc, r)
        if best is None:
            lines.append(
                f"- **{label}** ({variant}): "
                + (
                    f"{held_back} timed row(s), none of an artifact that passed its export parity (re-run "
                    "`invdn export` and `invdn bench`)."
                    if held_back
                    else "no results from such a machine yet (phones and browsers: the demo apps' benchmark mode, "
                    "then `invdn bench ingest FILE`)."
                )
                + (_npu_files() if label == "Phone NPU" else "")
            )
            continue
        doc, r = best
        what = r.get("target") or r.get("artifact") or r["backend"]
        drop = r.get("parity_drop_db")
        quality = f", PSNR drop {drop:+.3f} dB vs PyTorch" if drop is not None else ""
        lines.append(
            f"- **{label}** ({variant}): `{what}` ({_label(r)}): {r['median_ms']:.1f} ms per {REPORT_SIZE} on "
            f"{doc['machine']['name']} ({doc['machine'].get('device_model') or doc['machine']['cpu']}), "
            f"{_fmt(None if r['bytes'] is None else r['bytes'] / 1e6, '.2f')} MB{quality}."
        )
    return lines


def _recipe_key(r: dict) -> tuple:
    return r.get("target"), r.get("variant"), r["precision"]


def latest_parity(docs: list[dict]) -> dict[tuple, str]:
    """(target, variant, precision) -> the parity status of the newest results file that timed an artifact of it."""
    latest: dict[tuple, str] = {}
    for doc in sorted(docs, key=lambda d: d["date"]):
        for r in doc["rows"]:
            if r.get("target") and parity_status(r) is not None:
                latest[_recipe_key(r)] = parity_status(r)
    return latest


def _npu_files() -> str:
    """The recipes to give an NPU: full integer and made by ``invdn export all`` (which a full-integer recipe is only
    once it meets its quality goal; docs/int8.md)."""
    names = [t.name for t in load_targets().values() if t.full_integer and t.in_all]
    if not names:
        return (
            " No full-integer recipe meets the INT8 gate yet (held-out and stress photos, worst case): each is made "
            "by name only and its manifest says why (docs/int8.md)."
        )
    return (
        " The files to run there: " + ", ".join(f"`{n}`" for n in names) + " (every op integer, within the INT8 "
        "goal on held-out photos: docs/int8.md)."
    )


def instruction_ratios(rows: list[dict]) -> dict[int, float]:
    """Row index -> its instructions / those of the FP32 file of the same runtime, core, variant and tile."""

    def key(r: dict, backend: str) -> tuple:
        return backend, r["device"], r.get("variant"), r.get("tile") or r.get("height")

    fp32 = {key(r, r["backend"]): r["instructions"] for r in rows if r["precision"] == "fp32" and r.get("instructions")}
    out = {}
    for i, r in enumerate(rows):
        base = fp32.get(key(r, r["backend"].removesuffix("-fp16")))
        if base and r.get("instructions"):
            out[i] = r["instructions"] / base
    return out


def arm_markdown(rows: list[dict], x86: dict[int, str] | None = None) -> str:
    """The table of an emulated run (``invdn target arm64``): per artifact and emulated core, instructions per call
    and per 256² tile (x (256/tile)²: the work of a call grows with its pixels), the ratio to the FP32 file of the same
    runtime, core, variant and tile, the diffs, the gate; ``x86``: row index -> the x86 time to show beside it. The
    variant (paper / compact) and the export tile name each file: one target makes both variants; a file its export
    gate rejected (``*.rejected``, run by name) says so beside its target."""
    scale = {i: (256 * 256) / (r["height"] * r["width"]) for i, r in enumerate(rows)}
    ratio = instruction_ratios(rows)
    x86 = x86 or {}
    lines = [
        "| target | variant | tile | precision | runtime | core | instructions per call | per 256² tile | × FP32 "
        "| max diff to x86 | max abs err vs PyTorch | PSNR vs PyTorch, worst (dB) | drop (dB) | gate "
        "| x86 ms per 256² |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]

    def order_key(i: int) -> tuple:
        r = rows[i]
        return r.get("target") or "", r.get("variant") or "", r["height"], r["backend"], r["device"]

    order = sorted(range(len(rows)), key=order_key)
    for i in order:
        r = rows[i]
        ins = r.get("instructions")
        gate = r.get("parity_status") or "unverified"
        target = r.get("target") or "—"
        if (r.get("artifact") or "").endswith(".rejected"):  # its export gate failed; run by name
            target += " (rejected at export)"
        if r.get("calls"):
            gate += f" ({r['calls']} tiles)"
        if not gate.startswith("pass") and r.get("error"):
            gate += f": {r['error']}"
        lines.append(
            f"| {target} | {r.get('variant') or '—'} | {r['height']}² | {r['precision']} "
            f"| {r['backend']} | {r['device'].removesuffix(' (qemu)')} "
            f"| {_fmt(ins, '.3e')} | {_fmt(ins and ins * scale[i], '.3e')} | {_fmt(ratio.get(i), '.2f')} "
            f"| {_fmt(r.get('max_abs_diff_x86'), '.1e')} | {_fmt(r.get('max_abs_err'), '.1e')} "
            f"| {_fmt(r.get('psnr_vs_reference'), '.1f')} | {_fmt(r.get('parity_drop_db'), '+.3f')} | {gate} "
            f"| {x86.get(i, '—')} |"
        )
    return "\n".join(lines)


def x86_times(rows: list[dict], docs: list[dict]) -> dict[int, str]:
    """Row index of an emulated run -> the latest x86 median at 256² of the same target, runtime and variant, from
    the server/desktop results files."""
    latest = {}
    for doc in sorted(docs, key=lambda d: d["date"]):
        if doc["machine"]["kind"] not in ("server", "desktop"):
            continue
        for r in _ok(doc):
            if r["size"] == REPORT_SIZE and r.get("target") and r["median_ms"] is not None:
                key = (r["target"], r["backend"], r.get("variant"))
                latest[key] = f"{r['median_ms']:.0f} ({doc['machine']['name']}, {doc['date'][:10]})"
    keys = {i: (r.get("target"), r["backend"].removesuffix("-fp16"), r.get("variant")) for i, r in enumerate(rows)}
    return {i: latest[k] for i, k in keys.items() if k in latest}


def _table(doc: dict, docs: list[dict]) -> str:
    if doc["machine"]["kind"] == "emulator":
        return arm_markdown(doc["rows"], x86_times(doc["rows"], docs))
    if _whole_photos(doc):
        return photo_rows(doc["rows"])
    return markdown_rows(doc["rows"])


def _whole_photos(doc: dict) -> bool:
    """A file of ``invdn bench photos``: whole photos through ``invdn denoise``, not model latencies."""
    return all(r["backend"] == "invdn-denoise" for r in doc["rows"])


# --- plots -----------------------------------------------------------------------------------------------------------


def _pyplot():
    need("matplotlib").use("Agg")
    return need("matplotlib.pyplot")


def plot_latency(docs: list[dict]):
    """Latency vs pixels per backend, log-log, one panel per machine."""
    plt = _pyplot()
    machines = [d for d in docs if _ok(d)]
    fig, axes = plt.subplots(1, len(machines), figsize=(6.5 * len(machines), 4.8), squeeze=False)
    for ax, doc in zip(axes[0], machines):
        series: dict[str, list[tuple[int, float]]] = {}
        for r in _ok(doc):
            series.setdefault(_label(r), []).append((r["height"] * r["width"], r["median_ms"]))
        for name, points in sorted(series.items()):
            points.sort()
            ax.plot([p / 1e6 for p, _ in points], [m for _, m in points], marker="o", label=name)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("megapixels per image")
        ax.set_ylabel("median latency (ms)")
        ax.set_title(f"{doc['machine']['name']} ({doc['date'][:10]})", fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def plot_drop_vs_speedup(docs: list[dict]):
    """PSNR drop (export parity) vs speed-up over PyTorch eager at 256², per format x precision; the points are named
    in a legend beside the axes (labels on the points overlap where many artifacts lose ~0 dB)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(9.5, 4.8))
    markers = "osD^v<>P*X"
    n = 0
    for doc in docs:
        for r in _ok(doc):
            if r["size"] != REPORT_SIZE or r.get("parity_drop_db") is None or not r.get("speedup_vs_torch_eager"):
                continue
            label = f"{r['format']} {r['precision']} ({r.get('variant')}, {r['backend']}, {doc['machine']['name']})"
            ax.scatter(
                r["speedup_vs_torch_eager"], r["parity_drop_db"], s=45, marker=markers[n % len(markers)], label=label
            )
            n += 1
    gate = GATES["int8"].max_drop_db
    ax.axhline(gate, color="red", linestyle="--", linewidth=1, label=f"INT8 gate ({gate} dB)")
    ax.set_xscale("log")
    ax.set_xlabel(f"speed-up vs PyTorch eager FP32 at {REPORT_SIZE} (same machine, same run)")
    ax.set_ylabel("PSNR drop vs PyTorch on clean photos (dB)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    fig.tight_layout()
    return fig


def plot_sizes(docs: list[dict]):
    """Size on disk of every artifact."""
    plt = _pyplot()
    sizes: dict[str, int] = {}
    for doc in docs:
        for r in doc["rows"]:
            if r.get("artifact") and r["bytes"]:
                sizes[r["artifact"]] = r["bytes"]
    fig, ax = plt.subplots(figsize=(7, 0.3 * max(len(sizes), 4) + 1))
    names = sorted(sizes, key=sizes.get)
    ax.barh(names, [sizes[n] / 1e6 for n in names])
    ax.set_xlabel("MB on disk")
    ax.tick_params(axis="y", labelsize=7)
    ax.grid(True, axis="x", alpha=0.3)
    fig.tight_layout()
    return fig


PLOTS = {
    "latency_vs_resolution.png": ("Latency vs resolution per backend (log-log)", plot_latency),
    "drop_vs_speedup.png": ("PSNR drop vs speed-up per format × precision", plot_drop_vs_speedup),
    "artifact_sizes.png": ("Size per artifact", plot_sizes),
}


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    _pyplot().close(fig)
    return buf.getvalue()


# --- documents -------------------------------------------------------------------------------------------------------


def _machine_line(path: Path, doc: dict) -> str:
    m = doc["machine"]
    peaks = ", ".join(f"{k} {v:,.0f}" for k, v in (m.get("peak_gmacs") or {}).items())
    libs = ", ".join(f"{k} {v}" for k, v in (m.get("libraries") or {}).items())
    int8 = m.get("cpu_int8")
    isa = f"int8 instructions: {', '.join(k for k, v in int8.items() if v) or 'none'}" if int8 is not None else ""
    isa += f" (not: {', '.join(k for k, v in int8.items() if not v)})" if int8 and not all(int8.values()) else ""
    return (
        f"- `{path.name}` ({doc['source']}, {doc['date']}): {m['name']}: {m['cpu']}, {m['cores']} cores"
        f"{', ' + m['gpu'] if m.get('gpu') else ''}{', ' + m['device_model'] if m.get('device_model') else ''}; "
        f"{isa + '; ' if isa else ''}peak GMAC/s: {peaks or '—'}; {libs}"
    )


def _timed(docs: list[dict]) -> list[dict]:
    """The results files that measure model latency (emulated runs count instructions, not ms; whole-photo files
    time a whole ``invdn denoise`` process)."""
    return [d for d in docs if d["machine"]["kind"] != "emulator" and not _whole_photos(d)]


def report_markdown(loaded: list[tuple[Path, dict]], results: Path, reproduce: str) -> list[str]:
    """The lines of REPORT.md (without the final newline) from the loaded results files."""
    docs = [d for _, d in loaded]
    recs = recommendations(_timed(docs))
    md = [
        "# invdn-mobile benchmark report",
        "",
        f"Generated by `invdn report` from the committed files in `{results}`; reproduce with `{reproduce}`. "
        f"Latencies are of one whole image through the tiler ({DEFAULT_TILE}² tiles, {DEFAULT_OVERLAP} px overlap); "
        "ratios are within one run "
        "on one machine. Parity columns come from each artifact's export (`invdn export`): `pass` only for an "
        "artifact that was executed and met its gate; recommendations use only those (and PyTorch itself).",
        "",
        "## Recommendation per target",
        "",
        *recs,
        "",
        "## Machines",
        "",
        *[_machine_line(p, d) for p, d in loaded],
        "",
    ]
    for name, (title, _) in PLOTS.items():
        md += [f"## {title}", "", f"![{title}]({name})", ""]
    for path, doc in loaded:
        md += [f"## {doc['machine']['name']}: `{path.name}`", "", _table(doc, docs), ""]
    return md


def build(results: Path, out_dir: Path, reproduce: str) -> list[Path]:
    """Write REPORT.md, report.html and the plots into ``out_dir``; returns the paths written."""
    loaded = load_results(results)
    docs = [d for _, d in loaded]
    timed = _timed(docs)
    pngs = {name: _png(fn(timed)) for name, (_, fn) in PLOTS.items()}
    recs = recommendations(timed)
    md = report_markdown(loaded, results, reproduce)
    markdown = "\n".join(md)
    body = [f"<h1>invdn-mobile benchmark report</h1><p>{html.escape(md[2])}</p><h2>Recommendation per target</h2><ul>"]
    body += [f"<li>{html.escape(line[2:]).replace('**', '')}</li>" for line in recs]
    body.append("</ul><h2>Machines</h2><ul>")
    body += [f"<li>{html.escape(_machine_line(p, d)[2:])}</li>" for p, d in loaded]
    body.append("</ul>")
    for name, (title, _) in PLOTS.items():
        data = base64.b64encode(pngs[name]).decode()
        body.append(f'<h2>{html.escape(title)}</h2><img alt="{html.escape(title)}" src="data:image/png;base64,{data}">')
    for path, doc in loaded:
        body.append(f"<h2>{html.escape(doc['machine']['name'])}: {html.escape(path.name)}</h2>")
        body.append(_html_table(_table(doc, docs)))
    page = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>invdn-mobile benchmark report</title>'
        "<style>body{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em}"
        "table{border-collapse:collapse;font-size:12px}td,th{border:1px solid #ccc;padding:2px 6px}"
        "img{max-width:100%}</style></head><body>" + "".join(body) + "</body></html>\n"
    )
    out_dir = Path(out_dir)
    written = []
    for name, data in pngs.items():
        atomic_write_bytes(out_dir / name, data)
        written.append(out_dir / name)
    atomic_write_bytes(out_dir / "REPORT.md", (markdown + "\n").encode())
    atomic_write_bytes(out_dir / "report.html", page.encode())
    return [out_dir / "REPORT.md", out_dir / "report.html", *written]


def _html_table(markdown_table: str) -> str:
    lines = markdown_table.splitlines()
    head = [c.strip() for c in lines[0].strip("|").split("|")]
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in lines[2:]]
    out = ["<table><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in head) + "</tr>"]
    out += ["<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows]
    return "".join(out) + "</table>"
