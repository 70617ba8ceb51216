"""The manifest: one ``manifest.json`` per export folder, one entry per artifact with everything an app developer
needs to run it (I/O, layout, normalisation, tiling, z, strength curve, size, hashes, tools, parity and gate)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import platform
from importlib import metadata
from pathlib import Path

import torch

from invdn_mobile.atomic import atomic_path
from invdn_mobile.errors import InvdnError
from invdn_mobile.model.checkpoint import default_weights
from invdn_mobile.tiling import tiling_spec

NORMALIZATION = "RGB, float32, values in [0, 1] (sRGB-encoded, not linearised); output likewise, clip to [0, 1]"
INT8_NORMALIZATION = (
    "RGB, int8 code = 8-bit sRGB pixel value - 128 (scale and zero point in inputs/outputs); output likewise"
)
IMAGE_NORMALIZATION = (
    "RGB 8-bit image in and out (the model scales by 1/255 on input, clips and scales by 255 on output)"
)


def artifact_name(variant: str, tile: int, precision: str, z_input: bool, suffix: str) -> str:
    return f"invdn-{variant}-{tile}-{precision}{'-zin' if z_input else ''}{suffix}"


MANIFEST_VERSION = 1  # the contract the apps implement (android_demo/core, ios_demo/InvDNCore, web_demo)


def write_manifest(out_dir: Path, entries: list[dict]) -> Path:
    """Merge ``entries`` into ``out_dir/manifest.json`` (keyed by file name), atomically."""
    path = out_dir / "manifest.json"
    current = {}
    if path.is_file():
        try:
            current = {e["file"]: e for e in json.loads(path.read_text()).get("artifacts", [])}
        except (ValueError, KeyError):
            current = {}
    for e in entries:  # a new export replaces its artifact's old entry, passed or rejected
        base = e["file"].removesuffix(".rejected")
        current.pop(base, None)
        current.pop(base + ".rejected", None)
        current[e["file"]] = e
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps({"version": MANIFEST_VERSION, "artifacts": list(current.values())}, indent=2) + "\n")
    return path


def entry_for(path: Path) -> dict:
    """The manifest entry of an artifact, from the ``manifest.json`` beside it; one-line errors otherwise."""
    path = Path(path)
    if not path.exists():
        raise InvdnError(f"{path}: no such artifact")
    if not (path.parent / "manifest.json").is_file():
        raise InvdnError(f"{path}: no manifest.json beside it (pass an artifact inside an export folder)")
    match = [e for e in read_manifest(path.parent) if e.get("file") == path.name]
    if not match:
        raise InvdnError(f"{path}: not listed in {path.parent / 'manifest.json'}")
    return match[0]


def read_manifest(out_dir: Path) -> list[dict]:
    path = out_dir / "manifest.json"
    if not path.is_file():
        raise InvdnError(f"{out_dir}: no manifest.json (not an export folder)")
    try:
        doc = json.loads(path.read_text())
        artifacts = doc["artifacts"]
    except (ValueError, KeyError, TypeError) as exc:
        raise InvdnError(f"{path}: malformed manifest ({exc})") from None
    version = doc.get("version", MANIFEST_VERSION)  # manifests written before the field existed are version 1
    if version != MANIFEST_VERSION:
        raise InvdnError(f"{path}: manifest version {version!r}, this invdn reads version {MANIFEST_VERSION}")
    return artifacts


def io_spec(fmt, tile: int, z_shape: list[int], z_input: bool) -> tuple[list[dict], list[dict]]:
    """Input and output descriptions of an artifact, in the artifact's own layout."""
    nhwc = fmt.layout == "NHWC"

    def shape(c, h, w):
        return [1, h, w, c] if nhwc else [1, c, h, w]

    dtype = "image" if fmt.image_io and not z_input else "float32"
    inputs = [{"name": "image", "shape": shape(3, tile, tile), "dtype": dtype}]
    if z_input:
        inputs.append({"name": "z", "shape": shape(*z_shape[1:]), "dtype": "float32"})
    outputs = [{"name": "denoised", "shape": shape(3, tile, tile), "dtype": dtype}]
    return inputs, outputs


def describe(path, fmt, precision, tile, variant, model, z_input, seed, scale, weights_path, torch_macs) -> dict:
    """The manifest entry of one artifact (everything an app developer needs to run it)."""
    z_shape = list(model.z_shape(tile, tile))
    inputs, outputs = io_spec(fmt, tile, z_shape, z_input)
    module = fmt.module()
    report = module.inspect(path)
    for spec in (*inputs, *outputs):  # what the file itself declares, where its backend reads it: the dtype (Core ML
        # FP16 programs), and dtype, scale and zero point of integer I/O (full-integer TFLite)
        spec["dtype"] = report.get("io_dtypes", {}).get(spec["name"], spec["dtype"])
        spec |= report.get("integer_io", {}).get(spec["name"], {})
    platform_min = {"min_deployment_target": module.MIN_TARGET} if hasattr(module, "MIN_TARGET") else {}
    return platform_min | {
        "file": path.name,
        "format": fmt.name,
        "precision": precision,
        "tile": [tile, tile],
        "layout": fmt.layout,
        "inputs": inputs,
        "outputs": outputs,
        "normalization": {"image": IMAGE_NORMALIZATION, "int8": INT8_NORMALIZATION}.get(
            inputs[0]["dtype"], NORMALIZATION
        ),
        "tiling": tiling_spec(tile, model.config.multiple),  # how apps tile a photo for this artifact
        "z": {
            "seed": seed,
            "scale": scale,
            "shape": z_shape,
            "as_input": z_input,
            "generator": "torch.Generator().manual_seed(seed); torch.randn(shape) * scale",
        },
        "variant": variant,
        "params": model.num_params(),
        "macs": {"graph": report["macs"], "torch_denoiser": torch_macs}
        | ({"by_input_type": report["macs_by_input_type"]} if "macs_by_input_type" in report else {}),
        "ops": report["ops"],
        **({"delegation": report["delegation"]} if "delegation" in report else {}),  # which ops a delegate took
        "max_rank": report["max_rank"],
        "bytes": size_bytes(path),
        "sha256": sha256(path),
        "weights": {"file": str(weights_path), "sha256": sha256(weights_path)},
        "tools": tool_versions(),
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }


def sha256(path: Path) -> str:
    """Of a file; of a folder artifact: over its files' relative paths and contents, in sorted order."""
    path = Path(path)
    h = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for f in files:
        if path.is_dir():
            h.update(str(f.relative_to(path)).encode() + b"\0")
        with open(f, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()


def size_bytes(path: Path) -> int:
    path = Path(path)
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() else path.stat().st_size


def weights_for_entry(entry: dict, weights: Path | None = None) -> Path:
    """The weights an artifact was exported from (matched by sha256): ``weights`` if given, else the recorded file,
    else the bundled default of its variant."""
    want = entry["weights"]["sha256"]
    candidates = [weights] if weights else [Path(entry["weights"]["file"]), default_weights(entry["variant"])]
    for c in candidates:
        if c and Path(c).is_file() and sha256(Path(c)) == want:
            return Path(c)
    if weights:
        raise InvdnError(f"{weights} is not the weights {entry['file']} was exported from (sha256 differs)")
    raise InvdnError(f"cannot find the weights {entry['file']} was exported from; pass --weights")


def tool_versions() -> dict[str, str]:
    out = {"python": platform.python_version(), "torch": torch.__version__}
    for dist in (
        "invdn-mobile",
        "onnx",
        "onnxruntime",
        "onnxslim",
        "onnxconverter-common",
        "onnxscript",
        "litert-torch",
        "ai-edge-litert",
        "ai-edge-quantizer",
        "coremltools",
        "executorch",
        "torchao",
    ):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            pass
    return out
