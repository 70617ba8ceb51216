"""Export orchestration: one wrapper that exports, sizes, hashes and records every artifact the same way, runs
parity on it and applies the gate (a failing artifact is renamed ``*.rejected`` and the command exits non-zero)."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from invdn_mobile.atomic import atomic_dir, atomic_path, make_dir, remove_artifact
from invdn_mobile.export.manifest import artifact_name, describe, sha256, write_manifest
from invdn_mobile.export.photos import calibration_data, sample_photos
from invdn_mobile.export.registry import check_precision, get_format
from invdn_mobile.model import Denoiser
from invdn_mobile.model.macs import model_macs
from invdn_mobile.parity import load_photos, measure, reference_outputs, skipped_row
from invdn_mobile.runtimes import load_runner
from invdn_mobile.tiling import check_options

_REFERENCES: dict[tuple, tuple] = {}  # parity photos and PyTorch outputs, per weights/tile/z/photos/noise


@dataclass
class ExportResult:
    entries: list[dict] = field(default_factory=list)

    @property
    def failed(self) -> list[dict]:
        return [e for e in self.entries if not e["gate"]["passed"]]


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

    images = sample_photos("clean", images)

    key = (sha256(weights_path), tile, seed, scale, str(Path(images).resolve()), noise)
    if key not in _REFERENCES:
        denoiser = Denoiser(model, tile=(tile, tile), seed=seed, z_scale=scale).eval()
        photos = load_photos(images, noise)
        _REFERENCES[key] = photos, reference_outputs(denoiser, photos, tile)
    return _REFERENCES[key]


def check_artifact(path: Path, entry: dict, fmt, photos, reference):
    """Parity of one artifact (or, for a format no runtime here can run, its structural validation)."""

    tile = entry["tile"][0]
    if not fmt.runtime:
        problems = fmt.module().validate(path, entry)
        return skipped_row(path.name, fmt.name, entry["precision"], fmt.why_not_run, problems)
    runner = load_runner(fmt.runtime, path, entry)
    return measure(path.name, fmt.name, entry["precision"], runner, photos, reference, tile)
