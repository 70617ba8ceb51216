"""Export orchestration: one wrapper that exports, sizes, hashes and records every artifact the same way, executes it
on the held-out parity set and applies the gate (a failing artifact is renamed ``*.rejected`` and the command exits
non-zero)."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from invdn_mobile.atomic import atomic_dir, atomic_path, make_dir, remove_artifact
from invdn_mobile.errors import InvdnError, first_line
from invdn_mobile.export.manifest import artifact_name, describe, entry_for, write_manifest
from invdn_mobile.export.photos import calibration_data
from invdn_mobile.export.references import fp16_row, parity_reference
from invdn_mobile.export.registry import ExportOptions, check_precision, get_format
from invdn_mobile.gates import FP16_COMPUTE_GATE, GATES
from invdn_mobile.model import Denoiser
from invdn_mobile.model.macs import model_macs
from invdn_mobile.parity import DEFAULT_NOISES, PHOTO_SETS, combined_status, measure, unverified_row
from invdn_mobile.runtimes import load_runner
from invdn_mobile.tiling import DEFAULT_TILE, check_options


@dataclass
class ExportResult:
    entries: list[dict] = field(default_factory=list)

    @property
    def failed(self) -> list[dict]:
        return [e for e in self.entries if e["gate"]["status"] == "fail"]

    @property
    def statuses(self) -> list[str]:
        return [e["gate"]["status"] for e in self.entries]


@dataclass(frozen=True)
class ExportJob:
    """One export: the weights, what to make of them (format, precision, tile, options) and where, and what to
    check it on (the parity photos and noises; the INT8 calibration photos)."""

    model: object  # the InvDN network
    meta: dict  # its checked weights metadata (z, variant, strength curve)
    weights_path: Path
    format: str
    precision: str
    out_dir: Path
    tile: int = DEFAULT_TILE
    z_input_variant: bool = True  # also the artifact that takes z as a second input
    images: Path | None = None  # parity photos (default samples/heldout)
    calibration: Path | None = None  # INT8 calibration photos (default samples/calibration)
    noises: tuple[str, ...] = DEFAULT_NOISES
    sets: tuple[str, ...] = PHOTO_SETS  # the parity photo sets (heldout: ``images``; stress: generated and natural)
    calibration_count: int = 16
    left_out: str = ""  # the recipe is not in `export all`: why (recorded in the manifest)
    # INT8: also calibrate on the generated stress crops the float model handles (other seeds than the gate's); off
    # by default: measured, it does not bring any 8-bit recipe within the gate and costs resolution (docs/int8.md)
    generated_calibration: bool = False
    options: ExportOptions = ExportOptions()

    @property
    def z(self) -> tuple[int, float]:
        """The weights' z_HF seed and scale."""
        z = self.meta.get("z", {})
        return int(z.get("seed", 0)), float(z.get("scale", 1.0))

    def references(self):
        """The parity set and the PyTorch outputs this job's artifacts are checked on (made once per weights, tile,
        z and photos: :mod:`invdn_mobile.export.references`)."""
        seed, scale = self.z
        model, tile = self.model, self.tile
        return parity_reference(model, self.weights_path, tile, seed, scale, self.images, self.noises, self.sets)


def export_artifacts(job: ExportJob, log=print) -> ExportResult:
    """Export the constant-z artifact (and the z-input variant), execute each on the parity set, gate, and record the
    manifest. A failing artifact is renamed ``*.rejected``."""
    fmt = get_format(job.format)
    precision, tile, options, model, out_dir = job.precision, job.tile, job.options, job.model, job.out_dir
    check_precision(fmt, precision)
    multiple = model.config.multiple
    check_options(tile, None, multiple, whole=False)
    make_dir(out_dir)
    seed, scale = job.z
    variant = job.meta.get("variant") or "custom"
    reference_denoiser = Denoiser(model, tile=(tile, tile), seed=seed, z_scale=scale).eval()
    pset = job.references()
    torch_macs = model_macs(model, tile, tile)["denoiser"]
    result = ExportResult()
    for z_input in (False, True) if job.z_input_variant else (False,):
        denoiser = Denoiser(model, tile=(tile, tile), seed=seed, z_scale=scale, z_input=z_input).eval()
        name = artifact_name(variant, tile, precision, z_input, fmt.suffix)
        path = out_dir / name
        z_arr = reference_denoiser.z.numpy() if z_input else None
        calib = None
        if precision in fmt.needs_calibration:
            calib = calibration_data(
                job.calibration, tile, job.calibration_count, z_arr,
                denoiser=reference_denoiser if job.generated_calibration else None,
            )  # fmt: skip
        started = time.perf_counter()
        rejected = path.with_name(path.name + ".rejected")
        remove_artifact(rejected)
        with (atomic_dir if fmt.directory else atomic_path)(path) as tmp:
            fmt.module().export(denoiser, precision, tile, tmp, calib, options)
        seconds = time.perf_counter() - started
        entry = describe(path, fmt, precision, tile, variant, model, z_input, seed, scale, job.weights_path, torch_macs)
        entry["strength"] = job.meta.get("strength")  # the weights' noise-adaptive strength curve, for the apps
        entry["export_seconds"] = round(seconds, 2)
        if job.left_out:  # made by name only: why `export all` leaves this recipe out
            entry["not_in_export_all"] = job.left_out
        if options.accelerators:  # what an app may run it on (Target.accelerators)
            entry["accelerators"] = list(options.accelerators)
        if precision in fmt.searched:  # INT8 that quantizes activations
            entry["keep_float"] = list(options.keep_float)
            if options.full_integer:  # every op integer: how many bits its activations and weights have
                entry["integer"] = {
                    "activation_bits": options.activation_bits,
                    "weight_bits": 7 if options.reduce_range else 8,
                }
                if options.state_bits:  # mixed: the coupling state's activations at these bits
                    entry["integer"]["state_bits"] = options.state_bits
                # the exact float rewrites converted before quantizing (docs/int8.md)
                rewrites = [k for k in ("equalize", "sub_free", "split_concats") if getattr(options, k)]
                entry["integer"]["rewrites"] = rewrites
            if options.sensitivity:
                entry["sensitivity"] = options.sensitivity
        started = time.perf_counter()
        rows = check_artifact(path, entry, fmt, pset)
        record_parity(entry, rows)
        if entry["gate"]["status"] == "fail":
            os.replace(path, rejected)
            entry["file"] = rejected.name
        log(
            f"{name}: {status_line(rows)} ({entry['bytes'] / 1e6:.2f} MB, export {seconds:.1f} s, parity "
            f"{time.perf_counter() - started:.1f} s)"
        )
        for row in rows[1:]:
            log(f"  FP16 compute: {status_line([row])}")
        result.entries.append(entry)
    write_manifest(out_dir, result.entries)
    return result


def check_artifact(path: Path, entry: dict, fmt, pset) -> list:
    """Execute one artifact on the parity set and judge it: its runtime's row, plus the FP16-compute row for an FP16
    artifact whose runtime here computes in FP32; the backend's structural check (where it has one) adds failures."""

    precision = entry["precision"]
    module = fmt.module()
    if not fmt.runtime:
        row = unverified_row(path.name, fmt.name, precision, fmt.why_not_run)
    else:
        try:
            runner = load_runner(fmt.runtime, path, entry)
        except InvdnError as exc:  # nothing here can execute it (e.g. an op the evaluator does not know)
            row = unverified_row(path.name, fmt.name, precision, f"not executed: {exc}")
        except Exception as exc:  # its runtime refuses the file: a broken artifact
            row = unverified_row(path.name, fmt.name, precision, "")
            row.status, row.failures = "fail", (f"its runtime cannot load it: {type(exc).__name__}: {first_line(exc)}",)
        else:
            row = measure(path.name, fmt.name, precision, runner, pset, GATES[precision])
    problems = module.validate(path, entry) if hasattr(module, "validate") else []
    if problems:
        row.failures, row.status = (*row.failures, *problems) if row.status == "fail" else tuple(problems), "fail"
    rows = [row]
    if precision == "fp16" and fmt.fp16_compute_row:
        rows.append(fp16_row(path.name, fmt.name, precision, pset, FP16_COMPUTE_GATE))
    return rows


def record_parity(entry: dict, rows: list) -> None:
    """The rows and the artifact's one status into its manifest entry (``gate.passed`` is ``status == "pass"``, for
    apps that read a boolean)."""
    entry["parity"] = rows[0].to_dict()
    if len(rows) > 1:
        entry["parity_fp16_compute"] = rows[1].to_dict()
    status = combined_status(rows)
    failures = [f"{r.evaluator}: {f}" for r in rows if r.status == "fail" for f in r.failures]
    reasons = [f for r in rows if r.status == "unverified" for f in r.failures]
    entry["gate"] = {"status": status, "passed": status == "pass", "failures": failures}
    if status == "unverified":
        entry["gate"]["reason"] = "; ".join(reasons)


def status_line(rows: list) -> str:
    """``pass (...)``, ``fail: ... (...)`` or ``unverified: reason`` with the numbers of the first row."""
    status = combined_status(rows)
    r = rows[0]
    if r.status == "unverified" and len(rows) == 1:
        return f"unverified: {'; '.join(r.failures)}"
    head = status if status == "pass" else f"{status}: " + "; ".join(f for row in rows for f in row.failures)
    if not r.per_case:
        return head
    arithmetic = f", {r.arithmetic} arithmetic" if r.arithmetic else ""
    return (
        f"{head} ({r.evaluator}{arithmetic}: max abs err {r.max_abs_err:.2e}, PSNR vs PyTorch "
        f"{r.psnr_vs_torch:.1f} / worst {r.psnr_vs_torch_worst:.1f} dB, drop {r.drop_db:+.3f} / worst "
        f"{r.drop_worst_db:+.3f} dB)"
    )


def open_artifact(path: Path, threads: int | None = None):
    """``(runner, entry)`` for an exported artifact: its manifest entry (from the ``manifest.json`` beside it) and its
    runtime (Core ML: the reference evaluator); one-line errors for anything else."""

    entry = entry_for(path)
    fmt = get_format(entry.get("format", "?"))
    if not fmt.runtime:
        raise InvdnError(f"{path}: nothing here can run a {fmt.name} artifact ({fmt.why_not_run})")
    return load_runner(fmt.runtime, Path(path), entry, threads=threads), entry
