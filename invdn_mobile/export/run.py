"""Export orchestration: one wrapper that exports, sizes, hashes and records every artifact the same way, runs
parity on it and applies the gate (a failing artifact is renamed ``*.rejected`` and the command exits non-zero)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import platform
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import numpy as np
import tomllib
import torch

from invdn_mobile.atomic import atomic_path
from invdn_mobile.errors import InvdnError
from invdn_mobile.export.registry import FORMATS, check_precision, get_format
from invdn_mobile.model import Denoiser
from invdn_mobile.model.macs import model_macs

TARGETS_DIR = Path(__file__).resolve().parent / "targets"
CALIBRATION_NOISE = "camera+awgn:5-50"
NORMALIZATION = "RGB, float32, values in [0, 1] (sRGB-encoded, not linearised); output likewise, clip to [0, 1]"


@dataclass
class Target:
    name: str
    format: str
    precision: str
    tile: int = 256
    variant: str = "paper"
    z_input_variant: bool = True  # also export the artifact that takes z as a second input
    description: str = ""


@dataclass
class ExportResult:
    entries: list[dict] = field(default_factory=list)

    @property
    def failed(self) -> list[dict]:
        return [e for e in self.entries if not e["gate"]["passed"]]


def load_targets() -> dict[str, Target]:
    targets = {}
    for path in sorted(TARGETS_DIR.glob("*.toml")):
        data = tomllib.loads(path.read_text())
        target = Target(name=path.stem, **data)
        fmt = get_format(target.format)
        check_precision(fmt, target.precision)
        targets[target.name] = target
    return targets


def get_target(name: str) -> Target:
    targets = load_targets()
    if name not in targets:
        raise InvdnError(f"unknown target {name!r}; choose one of: {', '.join(targets)}")
    return targets[name]


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def weights_for_entry(entry: dict, weights: Path | None = None) -> Path:
    """The weights an artifact was exported from (matched by sha256): ``weights`` if given, else the recorded file,
    else the bundled default of its variant."""
    from invdn_mobile.model.checkpoint import default_weights

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
    for dist in ("invdn-mobile", "onnx", "onnxruntime", "onnxslim", "onnxconverter-common", "onnxscript"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            pass
    return out


def calibration_data(photos_dir: Path, tile: int, count: int, z: np.ndarray | None, seed: int = 0) -> list[dict]:
    """``count`` noisy ``tile`` crops (training noise mixture) from clean photos, as ONNX Runtime feeds."""
    from invdn_mobile.data.dataset import CropDataset, load_uint8
    from invdn_mobile.imageio import list_images
    from invdn_mobile.noise import parse_noise

    files = list_images(photos_dir) if photos_dir.is_dir() else []
    if not files:
        raise InvdnError(f"{photos_dir}: no calibration photos (pass --calibration DIR of clean photos)")
    crops = CropDataset(load_uint8(files, tile), tile, seed)
    clean = torch.stack([crops[i] for i in range(count)])
    noisy = parse_noise(CALIBRATION_NOISE)(clean, torch.Generator().manual_seed(seed)).numpy()
    feeds = []
    for item in noisy:
        feed = {"image": item[None].astype(np.float32)}
        if z is not None:
            feed["z"] = z
        feeds.append(feed)
    return feeds


def artifact_name(variant: str, tile: int, precision: str, z_input: bool, suffix: str) -> str:
    return f"invdn-{variant}-{tile}-{precision}{'-zin' if z_input else ''}{suffix}"


def write_manifest(out_dir: Path, entries: list[dict]) -> Path:
    """Merge ``entries`` into ``out_dir/manifest.json`` (keyed by file name), atomically."""
    path = out_dir / "manifest.json"
    current = {}
    if path.is_file():
        try:
            current = {e["file"]: e for e in json.loads(path.read_text()).get("artifacts", [])}
        except (ValueError, KeyError):
            current = {}
    for e in entries:
        current[e["file"]] = e
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps({"artifacts": list(current.values())}, indent=2) + "\n")
    return path


def read_manifest(out_dir: Path) -> list[dict]:
    path = out_dir / "manifest.json"
    if not path.is_file():
        raise InvdnError(f"{out_dir}: no manifest.json (not an export folder)")
    try:
        return json.loads(path.read_text())["artifacts"]
    except (ValueError, KeyError) as exc:
        raise InvdnError(f"{path}: malformed manifest ({exc})") from None


def export_artifacts(
    model,
    meta: dict,
    weights_path: Path,
    fmt_name: str,
    precision: str,
    tile: int,
    out_dir: Path,
    z_input_variant: bool,
    images: Path,
    calibration: Path,
    noise: str,
    calibration_count: int = 16,
    log=print,
) -> ExportResult:
    """Export the constant-z artifact (and the z-input variant), run parity on each, gate, and record the manifest."""
    from invdn_mobile.parity import load_photos, measure, reference_outputs
    from invdn_mobile.runtimes import load_runner

    fmt = get_format(fmt_name)
    check_precision(fmt, precision)
    multiple = model.config.multiple
    if tile % multiple or tile < multiple:
        raise InvdnError(f"--tile must be a positive multiple of {multiple}, got {tile}")
    out_dir.mkdir(parents=True, exist_ok=True)
    z = meta.get("z", {})
    seed, scale = int(z.get("seed", 0)), float(z.get("scale", 1.0))
    variant = meta.get("variant") or "custom"
    reference_denoiser = Denoiser(model, tile=(tile, tile), seed=seed, z_scale=scale).eval()
    photos = load_photos(images, noise)
    reference = reference_outputs(reference_denoiser, photos, tile)
    torch_macs = model_macs(model, tile, tile)["denoiser"]
    result = ExportResult()
    for z_input in (False, True) if z_input_variant else (False,):
        denoiser = Denoiser(model, tile=(tile, tile), seed=seed, z_scale=scale, z_input=z_input).eval()
        name = artifact_name(variant, tile, precision, z_input, fmt.suffix)
        path = out_dir / name
        z_arr = reference_denoiser.z.numpy() if z_input else None
        calib = None
        if precision in fmt.needs_calibration:
            calib = calibration_data(calibration, tile, calibration_count, z_arr)
        started = time.perf_counter()
        path.with_suffix(path.suffix + ".rejected").unlink(missing_ok=True)
        with atomic_path(path) as tmp:
            fmt.exporter()(denoiser, precision, tile, tmp, calib)
        seconds = time.perf_counter() - started
        entry = describe(path, fmt, precision, tile, variant, model, z_input, seed, scale, weights_path, torch_macs)
        entry["export_seconds"] = round(seconds, 2)
        row = measure(name, fmt.name, precision, load_runner(fmt.runtime, path, entry), photos, reference, tile)
        entry["parity"] = row.to_dict() | {"noise": noise, "photos": str(images)}
        entry["gate"] = {"passed": bool(row.gate_passed), "failures": list(row.gate_failures)}
        if not row.gate_passed:
            os.replace(path, path.with_suffix(path.suffix + ".rejected"))
            entry["file"] = path.name + ".rejected"
        log(
            f"{name}: {'pass' if row.gate_passed else 'FAIL ' + '; '.join(row.gate_failures)} "
            f"(max abs err {row.max_abs_err:.2e}, drop {row.drop_db:+.3f} dB, {entry['bytes'] / 1e6:.2f} MB, "
            f"{seconds:.1f} s)"
        )
        result.entries.append(entry)
    write_manifest(out_dir, result.entries)
    return result


def describe(path, fmt, precision, tile, variant, model, z_input, seed, scale, weights_path, torch_macs) -> dict:
    """The manifest entry of one artifact (everything an app developer needs to run it)."""
    from invdn_mobile.export.onnx import graph_macs, op_counts

    z_shape = [1, *Denoiser(model).z_shape(tile, tile)[1:]]
    inputs = [{"name": "image", "shape": [1, 3, tile, tile], "dtype": "float32"}]
    if z_input:
        inputs.append({"name": "z", "shape": z_shape, "dtype": "float32"})
    return {
        "file": path.name,
        "format": fmt.name,
        "precision": precision,
        "tile": [tile, tile],
        "layout": fmt.layout,
        "inputs": inputs,
        "outputs": [{"name": "denoised", "shape": [1, 3, tile, tile], "dtype": "float32"}],
        "normalization": NORMALIZATION,
        "z": {
            "seed": seed,
            "scale": scale,
            "shape": z_shape,
            "as_input": z_input,
            "generator": "torch.Generator().manual_seed(seed); torch.randn(shape) * scale",
        },
        "variant": variant,
        "params": model.num_params(),
        "macs": {"graph": graph_macs(path) if fmt.name == "onnx" else None, "torch_denoiser": torch_macs},
        "ops": op_counts(path) if fmt.name == "onnx" else None,
        "bytes": path.stat().st_size,
        "sha256": sha256(path),
        "weights": {"file": str(weights_path), "sha256": sha256(weights_path)},
        "tools": tool_versions(),
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }


def all_format_precisions() -> list[tuple[str, str]]:
    return [(f.name, p) for f in FORMATS.values() for p in f.precisions]
