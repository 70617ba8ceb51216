"""``invdn web``: export (or reuse) the web target artifacts, assemble the browser demo (``web_demo/``) with them into
one folder, and serve it on 127.0.0.1 with the headers that give the page WASM threads (cross-origin isolation).

The site folder holds the page, onnxruntime-web's runtime files (from ``web_demo/node_modules``), ``models/`` with the
ONNX artifacts, and ``manifest.json``: the export manifests' entries of those artifacts, each with its ``target``,
its URL ``path`` and its ``tiling`` (the page reads everything it needs from there: precision, tile, tiling,
normalisation, MACs, bytes, variant).
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import os
import shutil
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from invdn_mobile.atomic import atomic_dir
from invdn_mobile.denoise import resolve_weights
from invdn_mobile.errors import InvdnError
from invdn_mobile.export.manifest import read_manifest, sha256
from invdn_mobile.export.run import ExportJob, export_artifacts
from invdn_mobile.export.targets import get_target, load_targets
from invdn_mobile.model.checkpoint import load_weights, read_meta
from invdn_mobile.parity import DEFAULT_NOISES, PHOTO_SETS
from invdn_mobile.tiling import tiling_spec

WEB_DEMO = Path(__file__).resolve().parent.parent / "web_demo"
PAGE_FILES = ("index.html", "style.css", "app.js", "worker.js", "tiling.js", "strength.js")
ORT_DIST = Path("node_modules") / "onnxruntime-web" / "dist"
# The two onnxruntime-web builds the worker loads: plain WASM (SIMD + threads) and WebGPU (its WASM part runs the
# CPU fallback); each is a loader module, its Emscripten glue and its .wasm.
ORT_FILES = (
    "ort.wasm.min.mjs",
    "ort-wasm-simd-threaded.mjs",
    "ort-wasm-simd-threaded.wasm",
    "ort.webgpu.min.mjs",
    "ort-wasm-simd-threaded.asyncify.mjs",
    "ort-wasm-simd-threaded.asyncify.wasm",
)
WEB_TARGET_PREFIX = "web-"
DEFAULT_SITE = Path("export/out/web-site")
DEFAULT_EXPORT_ROOT = Path("export/out")
DEFAULT_PORT = 8765
HOST = "127.0.0.1"
HEADERS = {
    "Cross-Origin-Opener-Policy": "same-origin",  # with COEP: crossOriginIsolated, so SharedArrayBuffer and threads
    "Cross-Origin-Embedder-Policy": "require-corp",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Cache-Control": "no-cache",
}
MIME_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".wasm": "application/wasm",
    ".onnx": "application/octet-stream",
    ".png": "image/png",
}


@dataclass
class Model:
    """One artifact served by the site: its target and its export manifest entry."""

    target: str
    entry: dict
    path: Path  # the artifact in its export folder


def onnxruntime_web_dist(web_demo: Path | None = None) -> Path:
    """onnxruntime-web's dist folder, or one clear error saying how to install it."""
    web_demo = web_demo or WEB_DEMO
    if not (web_demo / "index.html").is_file():
        raise InvdnError(f"{web_demo}: no web demo here (invdn web runs from a source checkout of invdn-mobile)")
    dist = web_demo / ORT_DIST
    missing = [f for f in ORT_FILES if not (dist / f).is_file()]
    if missing:
        raise InvdnError(
            f"{dist} lacks {missing[0]} (onnxruntime-web is not installed): run `npm ci --prefix web_demo`"
        )
    return dist


def onnxruntime_web_version(web_demo: Path | None = None) -> str:
    web_demo = web_demo or WEB_DEMO
    try:
        return json.loads((web_demo / "node_modules/onnxruntime-web/package.json").read_text())["version"]
    except (OSError, ValueError, KeyError):
        return "unknown"


def web_targets(names: list[str] | None = None):
    """The recipes to serve: ``names`` (any ONNX recipe), or every ``web-*`` recipe."""

    if not names:
        targets = [t for n, t in load_targets().items() if n.startswith(WEB_TARGET_PREFIX)]
        if not targets:
            raise InvdnError(f"no {WEB_TARGET_PREFIX}* target recipes in invdn_mobile/export/targets")
        return targets
    targets = []
    for name in dict.fromkeys(names):
        target = get_target(name)
        if target.format != "onnx":
            raise InvdnError(f"target {name!r} is {target.format}; the web demo runs ONNX targets only")
        targets.append(target)
    return targets


def find_reusable(
    out_dir: Path, precision: str, tile: int, weights_sha256: str, keep_float: list[str] | None = None
) -> dict | None:
    """The constant-z ONNX entry of ``out_dir``'s manifest exported from these weights at this precision and tile
    (and, for INT8, with these layers kept in float), whose file is still the one recorded and passed its gate; None
    when there is none."""

    if not (out_dir / "manifest.json").is_file():
        return None
    try:
        entries = read_manifest(out_dir)
    except InvdnError:
        return None
    for e in entries:
        try:
            ok = (
                e["format"] == "onnx"
                and e["precision"] == precision
                and e["tile"] == [tile, tile]
                and not e["z"]["as_input"]
                and e["weights"]["sha256"] == weights_sha256
                and e["gate"]["status"] == "pass"
                and (keep_float is None or "keep_float" not in e or e["keep_float"] == list(keep_float))
            )
        except (KeyError, TypeError):
            continue
        path = out_dir / e["file"]
        if ok and path.is_file() and sha256(path) == e["sha256"]:
            return e
    return None


def ensure_exported(
    target,
    tile: int | None = None,
    weights: Path | None = None,
    export_root: Path = DEFAULT_EXPORT_ROOT,
    images: Path | None = None,
    calibration: Path | None = None,
    noises: tuple[str, ...] | None = None,
    log: Callable[[str], None] = print,
    sets: tuple[str, ...] = PHOTO_SETS,
) -> Model | None:
    """Reuse ``target``'s artifact in ``export_root/<target>`` when its weights and tile match, else export it (with
    the parity gate). None when the fresh export failed its gate."""

    tile = tile or target.tile
    path = resolve_weights(weights, target.variant)
    if not path.is_file():
        raise InvdnError(f"{path}: weights file not found")
    variant = target.variant  # the recipe's (first) variant, or the variant of the weights file given
    if weights and path.suffix == ".safetensors":
        variant = read_meta(path).get("variant") or variant
    options = target.options(variant)
    out_dir = Path(export_root) / target.name
    keep = list(options.keep_float) if target.precision == "int8" else None
    entry = find_reusable(out_dir, target.precision, tile, sha256(path), keep)
    if entry is not None:
        log(f"[{target.name}] reusing {out_dir / entry['file']}")
        # the strength curve lives in the weights' sidecar and may have been (re)calibrated since the export
        strength = read_meta(path).get("strength") if path.suffix == ".safetensors" else entry.get("strength")
        return Model(target.name, entry | {"strength": strength}, out_dir / entry["file"])
    log(f"[{target.name}] exporting onnx {target.precision} tile {tile} -> {out_dir}")
    model, meta = load_weights(path, None if weights else variant)
    job = ExportJob(
        model, meta, path, "onnx", target.precision, out_dir, tile, target.z_input_variant, images, calibration,
        noises or DEFAULT_NOISES, sets, options=options,
    )  # fmt: skip
    result = export_artifacts(job, log=lambda msg: log(f"  {msg}"))
    entry = next(e for e in result.entries if not e["z"]["as_input"])
    if entry["gate"]["status"] != "pass":
        why = "; ".join(entry["gate"]["failures"]) or entry["gate"].get("reason", "")
        log(f"[{target.name}] not served: {entry['file']} is {entry['gate']['status']} ({why})")
        return None
    return Model(target.name, entry, out_dir / entry["file"])


def _place(src: Path, dst: Path) -> None:
    """Hard-link ``src`` to ``dst`` (exports and npm write new files rather than edit them), else copy it."""
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def site_entry(model: Model) -> dict:
    entry = dict(model.entry)
    entry["target"] = model.target
    entry["path"] = f"models/{model.path.name}"
    entry.setdefault("tiling", tiling_spec(entry["tile"][0]))  # manifests written before "tiling" existed
    return entry


def build_site(models: list[Model], site: Path = DEFAULT_SITE, web_demo: Path | None = None) -> Path:
    """Assemble the page, onnxruntime-web and the artifacts into ``site`` (replaced atomically)."""
    web_demo = web_demo or WEB_DEMO
    if not models:
        raise InvdnError("no artifact to serve (every export failed its parity gate)")
    dist = onnxruntime_web_dist(web_demo)
    with atomic_dir(Path(site)) as tmp:
        (tmp / "ort").mkdir(parents=True)
        (tmp / "models").mkdir()
        for name in PAGE_FILES:
            shutil.copy2(web_demo / name, tmp / name)
        for name in ORT_FILES:
            _place(dist / name, tmp / "ort" / name)
        for m in models:
            _place(m.path, tmp / "models" / m.path.name)
        manifest = {
            "artifacts": [site_entry(m) for m in models],
            "site": {
                "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                "onnxruntime-web": onnxruntime_web_version(web_demo),
            },
        }
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return Path(site)


class _Handler(SimpleHTTPRequestHandler):
    extensions_map = {**SimpleHTTPRequestHandler.extensions_map, **MIME_TYPES}

    def end_headers(self) -> None:
        for key, value in HEADERS.items():
            self.send_header(key, value)
        super().end_headers()

    def log_message(self, format: str, *args) -> None:  # quiet: the page shows its own progress
        pass


def check_port(port: int, host: str = HOST) -> None:
    """Raise a one-line error unless ``host:port`` can be listened on now (0: any free port)."""
    if not 0 <= port <= 65535:
        raise InvdnError(f"--port must be in 0..65535, got {port}")
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server will (allow_reuse_address)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise InvdnError(f"cannot listen on {host}:{port} ({exc.strerror or exc}); pass another --port") from None


def serve(site: Path, port: int = DEFAULT_PORT, host: str = HOST) -> ThreadingHTTPServer:
    """Serve ``site`` on ``host:port`` (0: a free port) from a daemon thread; ``server.shutdown()`` stops it."""
    site = Path(site)
    if not (site / "index.html").is_file():
        raise InvdnError(f"{site}: not a web demo folder (no index.html)")
    check_port(port, host)
    handler = functools.partial(_Handler, directory=str(site))
    try:
        server = ThreadingHTTPServer((host, port), handler)
    except OSError as exc:
        raise InvdnError(f"cannot listen on {host}:{port} ({exc.strerror or exc}); pass another --port") from None
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="invdn-web", daemon=True).start()
    return server


def url_of(server: ThreadingHTTPServer) -> str:
    host, port = server.server_address[:2]
    return f"http://{host}:{port}/"
