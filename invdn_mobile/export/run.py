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

from invdn_mobile.atomic import atomic_dir, atomic_path, make_dir, remove_artifact
from invdn_mobile.errors import InvdnError
from invdn_mobile.export.registry import FORMATS, check_precision, get_format
from invdn_mobile.model import Denoiser
from invdn_mobile.model.macs import model_macs
from invdn_mobile.model.variants import VARIANTS
from invdn_mobile.tiling import check_options, tiling_spec

TARGETS_DIR = Path(__file__).resolve().parent / "targets"
CALIBRATION_NOISE = "camera+awgn:5-50"
NORMALIZATION = "RGB, float32, values in [0, 1] (sRGB-encoded, not linearised); output likewise, clip to [0, 1]"
IMAGE_NORMALIZATION = (
    "RGB 8-bit image in and out (the model scales by 1/255 on input, clips and scales by 255 on output)"
)


@dataclass
class Target:
    name: str
    format: str
    precision: str
    tile: int = 256
    variants: list[str] = field(default_factory=lambda: ["paper"])  # model variants `export all` makes; first = default
    z_input_variant: bool = True  # also export the artifact that takes z as a second input
    description: str = ""
    cpu_only: bool = False  # TFLite: skip the LiteRT GPU delegate op check
    # INT8: layers kept in float (see --sensitivity): one list for every variant, or a table keyed by variant
    keep_float: list[str] | dict[str, list[str]] = field(default_factory=list)

    @property
    def variant(self) -> str:
        return self.variants[0]

    def options(self, variant: str) -> dict:
        keep = self.keep_float.get(variant, []) if isinstance(self.keep_float, dict) else self.keep_float
        return {"cpu_only": self.cpu_only, "keep_float": list(keep)}


_REFERENCES: dict[tuple, tuple] = {}  # parity photos and PyTorch outputs, per weights/tile/z/photos/noise


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
        if "variant" in data:  # one variant: shorthand for variants = [it]
            data["variants"] = [data.pop("variant")]
        target = Target(name=path.stem, **data)
        unknown = set(target.variants) - set(VARIANTS)
        if unknown or not target.variants:
            raise InvdnError(f"{path}: unknown variants {sorted(unknown)} (known: {', '.join(VARIANTS)})")
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
    ):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            pass
    return out


def noisy_crops(photos_dir: Path, tile: int, count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``count`` seeded ``tile`` crops of the clean photos in ``photos_dir`` and their noisy versions (the training
    noise mixture), NCHW float32."""
    from invdn_mobile.data.dataset import CropDataset, load_uint8
    from invdn_mobile.imageio import list_images
    from invdn_mobile.noise import parse_noise

    files = list_images(photos_dir) if photos_dir.is_dir() else []
    if not files:
        raise InvdnError(f"{photos_dir}: no photos for calibration (pass a folder of clean photos)")
    crops = CropDataset(load_uint8(files, tile), tile, seed)
    clean = torch.stack([crops[i] for i in range(count)])
    noisy = parse_noise(CALIBRATION_NOISE)(clean, torch.Generator().manual_seed(seed))
    return clean.numpy(), noisy.numpy()


def sample_photos(kind: str, given: Path | None = None) -> Path:
    """``given``, or the default photo folder ``samples/<kind>`` (``clean``: parity, ``calibration``: INT8
    calibration): the working folder's when it has one, else the one of the source checkout this package runs from;
    with neither, a one-line error that says what to pass."""
    if given is not None:
        return Path(given)
    for folder in (Path("samples") / kind, Path(__file__).resolve().parents[2] / "samples" / kind):
        if folder.is_dir():
            return folder
    option = "--images" if kind == "clean" else "--calibration"
    raise InvdnError(f"no samples/{kind} folder here or in the package's checkout: pass {option} DIR (clean photos)")


def calibration_data(photos_dir: Path | None, tile: int, count: int, z: np.ndarray | None, seed: int = 0) -> list[dict]:
    """``count`` noisy ``tile`` crops (training noise mixture) from clean photos (default ``samples/calibration``), as
    NCHW feeds ``{"image", "z"}`` (backends convert the layout)."""
    _, noisy = noisy_crops(sample_photos("calibration", photos_dir), tile, count, seed)
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
    for e in entries:  # a new export replaces its artifact's old entry, passed or rejected
        base = e["file"].removesuffix(".rejected")
        current.pop(base, None)
        current.pop(base + ".rejected", None)
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
    images: Path | None,
    calibration: Path | None,
    noise: str,
    calibration_count: int = 16,
    options: dict | None = None,
    log=print,
) -> ExportResult:
    """Export the constant-z artifact (and the z-input variant), run parity on each, gate, and record the manifest."""
    fmt = get_format(fmt_name)
    check_precision(fmt, precision)
    multiple = model.config.multiple
    check_options(tile, None, multiple, whole=False)
    images = sample_photos("clean", images)
    make_dir(out_dir)
    z = meta.get("z", {})
    seed, scale = int(z.get("seed", 0)), float(z.get("scale", 1.0))
    variant = meta.get("variant") or "custom"
    reference_denoiser = Denoiser(model, tile=(tile, tile), seed=seed, z_scale=scale).eval()
    photos, reference = parity_reference(model, weights_path, tile, seed, scale, images, noise)
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
        rejected = path.with_name(path.name + ".rejected")
        remove_artifact(rejected)
        with (atomic_dir if fmt.directory else atomic_path)(path) as tmp:
            fmt.module().export(denoiser, precision, tile, tmp, calib, options)
        seconds = time.perf_counter() - started
        entry = describe(path, fmt, precision, tile, variant, model, z_input, seed, scale, weights_path, torch_macs)
        entry["strength"] = meta.get("strength")  # the weights' noise-adaptive strength curve, for the apps
        entry["export_seconds"] = round(seconds, 2)
        if options and precision == "int8" and precision in fmt.needs_calibration:  # INT8 that quantizes activations
            entry["keep_float"] = list(options.get("keep_float", ()))
            if options.get("sensitivity"):
                entry["sensitivity"] = options["sensitivity"]
        row = check_artifact(path, entry, fmt, photos, reference)
        entry["parity"] = row.to_dict() | {"noise": noise, "photos": str(images)}
        entry["gate"] = {"passed": bool(row.gate_passed), "failures": list(row.gate_failures)}
        if not row.gate_passed:
            os.replace(path, rejected)
            entry["file"] = rejected.name
        verdict = "pass" if row.gate_passed else "FAIL " + "; ".join(row.gate_failures)
        numbers = (
            f"skipped parity: {row.skipped}"
            if row.skipped
            else f"max abs err {row.max_abs_err:.2e}, drop {row.drop_db:+.3f} dB"
        )
        log(f"{name}: {verdict} ({numbers}, {entry['bytes'] / 1e6:.2f} MB, {seconds:.1f} s)")
        result.entries.append(entry)
    write_manifest(out_dir, result.entries)
    return result


def parity_reference(model, weights_path: Path, tile: int, seed: int, scale: float, images: Path | None, noise: str):
    """The parity photos (default ``samples/clean``) and the PyTorch FP32 outputs on them, computed once per
    weights/tile/z/photos/noise (``export all`` and ``invdn parity`` meet the same model at the same tile many
    times)."""
    from invdn_mobile.parity import load_photos, reference_outputs

    images = sample_photos("clean", images)

    key = (sha256(weights_path), tile, seed, scale, str(Path(images).resolve()), noise)
    if key not in _REFERENCES:
        denoiser = Denoiser(model, tile=(tile, tile), seed=seed, z_scale=scale).eval()
        photos = load_photos(images, noise)
        _REFERENCES[key] = photos, reference_outputs(denoiser, photos, tile)
    return _REFERENCES[key]


def check_artifact(path: Path, entry: dict, fmt, photos, reference):
    """Parity of one artifact (or, for a format no runtime here can run, its structural validation)."""
    from invdn_mobile.parity import measure, skipped_row
    from invdn_mobile.runtimes import load_runner

    tile = entry["tile"][0]
    if not fmt.runtime:
        problems = fmt.module().validate(path, entry)
        return skipped_row(path.name, fmt.name, entry["precision"], fmt.why_not_run, problems)
    runner = load_runner(fmt.runtime, path, entry)
    return measure(path.name, fmt.name, entry["precision"], runner, photos, reference, tile)


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
    platform_min = {"min_deployment_target": module.MIN_TARGET} if hasattr(module, "MIN_TARGET") else {}
    return platform_min | {
        "file": path.name,
        "format": fmt.name,
        "precision": precision,
        "tile": [tile, tile],
        "layout": fmt.layout,
        "inputs": inputs,
        "outputs": outputs,
        "normalization": IMAGE_NORMALIZATION if inputs[0]["dtype"] == "image" else NORMALIZATION,
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
        "macs": {"graph": report["macs"], "torch_denoiser": torch_macs},
        "ops": report["ops"],
        "max_rank": report["max_rank"],
        "bytes": size_bytes(path),
        "sha256": sha256(path),
        "weights": {"file": str(weights_path), "sha256": sha256(weights_path)},
        "tools": tool_versions(),
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }


def all_format_precisions() -> list[tuple[str, str]]:
    return [(f.name, p) for f in FORMATS.values() for p in f.precisions]
