"""``invdn export`` and ``invdn parity``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from invdn_mobile.cli.common import VariantOpt, WeightsOpt, cli_errors, fail

OUT_ROOT = Path("export/out")
ImagesOpt = Annotated[
    Path | None,
    typer.Option(
        "--images",
        help="Folder of clean photos for parity (noise is added with a fixed seed) [default: samples/heldout, photos "
        "that training, calibration and the INT8 search never saw].",
        show_default=False,
    ),
]
SetOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        help="Parity photo set (repeatable): 'heldout' (the --images folder) and 'stress' (generated photos of "
        "saturated colours, highlights, edges, stripes, text, gradients, colour speckle, and scikit-image photos no "
        "other set uses; docs/int8.md) [default: both].",
        show_default=False,
    ),
]
NoiseOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--noise",
        help="Noise added to the parity photos (repeatable; every photo at every level) "
        "[default: camera:iso3200 and awgn:15].",
        show_default=False,
    ),
]


def _sets(sets: list[str] | None) -> tuple[str, ...]:
    from invdn_mobile.errors import InvdnError
    from invdn_mobile.parity import PHOTO_SETS

    for name in sets or ():
        if name not in PHOTO_SETS:
            raise InvdnError(f"--set {name}: unknown photo set (choose from {', '.join(PHOTO_SETS)})")
    return tuple(dict.fromkeys(sets)) if sets else PHOTO_SETS


def _noises(noise: list[str] | None) -> tuple[str, ...]:
    from invdn_mobile.noise import parse_noise
    from invdn_mobile.parity import DEFAULT_NOISES

    noises = tuple(noise) if noise else DEFAULT_NOISES
    for n in noises:
        parse_noise(n)  # a bad spec: one line before any work
    return noises


@cli_errors
def export(
    target: Annotated[str | None, typer.Argument(help="A target recipe name, or 'all' for every recipe.")] = None,
    target_opt: Annotated[str | None, typer.Option("--target", help="Same as the TARGET argument.")] = None,
    fmt: Annotated[str | None, typer.Option("--format", help="Explicit form: onnx, tflite or coreml.")] = None,
    precision: Annotated[
        str | None, typer.Option("--precision", help="Explicit form: fp32, fp16, int8 (or int8dyn / int8w for tflite).")
    ] = None,
    tile: Annotated[
        int | None, typer.Option("--tile", help="Fixed input tile (multiple of 4) [default: the recipe's tile].")
    ] = None,
    out: Annotated[Path | None, typer.Option("-o", "--output", help="Output folder (default export/out/NAME).")] = None,
    weights: WeightsOpt = None,
    variant: VariantOpt = None,
    images: ImagesOpt = None,
    photo_sets: SetOpt = None,
    calibration: Annotated[
        Path | None,
        typer.Option(help="Clean photos for INT8 calibration [default: samples/calibration].", show_default=False),
    ] = None,
    calibrate_generated: Annotated[
        bool,
        typer.Option(
            "--calibrate-generated",
            help="INT8: also calibrate on generated stress crops (other seeds than the parity set's) where the float "
            "model stays in its domain (docs/int8.md: it widens ranges; not the default).",
        ),
    ] = False,
    noise: NoiseOpt = None,
    z_variant: Annotated[bool, typer.Option("--z-variant/--no-z-variant", help="Also export z as an input.")] = True,
    keep_float: Annotated[
        list[str] | None,
        typer.Option(
            "--keep-float",
            help="INT8: keep layers whose name contains this in float (repeatable; ONNX: module paths such as "
            "model.scales.1.blocks.4.F; TFLite: ResidualBlock_G, ResidualBlock_H, HaarDownsample, ...). "
            "Overrides the recipe's keep_float.",
        ),
    ] = None,
    sensitivity: Annotated[
        bool,
        typer.Option(
            "--sensitivity",
            help="INT8 that quantizes activations: measure each layer group's damage (PSNR drop, mean and worst crop, "
            "when only it is quantized) on photo crops and generated stress crops that no gate reads, print it, keep "
            "the worst groups in float until both drops are half the gate's, and record it all in the manifest.",
        ),
    ] = False,
    cpu_only: Annotated[
        bool,
        typer.Option(
            "--cpu-only",
            help="With --format tflite: the file is for the CPU, so skip the check that the LiteRT GPU delegate "
            "can run it (dynamic-range int8dyn has no GPU kernels).",
        ),
    ] = False,
    workers: Annotated[
        int | None,
        typer.Option(
            "--jobs",
            "-j",
            min=1,
            help="Export jobs side by side, each in its own process with its share of the cores; the parity "
            "references of each model are computed once and shared (cached in ~/.cache/invdn-mobile, INVDN_CACHE "
            "sets the folder) [default: one per core].",
            show_default=False,
        ),
    ] = None,
    allow_unverified: Annotated[
        bool,
        typer.Option(
            "--allow-unverified",
            help="Exit 0 even when an artifact could not be executed here (status unverified); by default that "
            "is an error, as a failed gate is.",
        ),
    ] = False,
) -> None:
    """Export the fixed-seed denoiser, execute every artifact on the held-out parity set (Core ML through the
    reference evaluator of its ML Program), print the table with each artifact's status (pass, fail, unverified) and
    exit non-zero when any fails or could not be executed (unverified; --allow-unverified accepts that).

    A target recipe (invdn_mobile/export/targets/*.toml) names format, precision, tile and variants; each artifact is
    written with a `-zin` twin that takes z_HF as a second input, into export/out/<target>/ with a manifest.json.

    Examples: `invdn export onnx-fp32` (one recipe); `invdn export all` (every recipe: the main job);
    `invdn export --format onnx --precision int8 --variant compact --tile 128` (explicit)."""
    import time
    from dataclasses import replace

    from invdn_mobile.bench.generated import record_export_all
    from invdn_mobile.denoise import resolve_weights
    from invdn_mobile.export.batch import default_workers, run_jobs
    from invdn_mobile.export.registry import FORMATS
    from invdn_mobile.export.run import ExportJob
    from invdn_mobile.export.targets import plan
    from invdn_mobile.model.checkpoint import load_weights
    from invdn_mobile.parity import count_line, markdown
    from invdn_mobile.tiling import check_options

    runs = plan(target or target_opt, fmt, precision, variant, weights is not None, cpu_only)
    if tile is not None:
        check_options(tile, None, whole=False)
    noises, sets = _noises(noise), _sets(photo_sets)
    one_job = len({job.name for job, _ in runs}) == 1
    specs, started = [], time.monotonic()
    for job, model_variant in runs:
        path = resolve_weights(weights, model_variant or "paper")
        model, meta = load_weights(path, model_variant)
        model_variant = meta.get("variant") or model_variant or "custom"
        out_dir = out if (out and one_job) else (out or OUT_ROOT) / job.name
        options = job.options(model_variant, keep_float)
        if sensitivity and job.precision in FORMATS[job.format].searched:
            options = replace(options, **_sensitivity(job, options, model, meta, images, calibration, tile or job.tile))
        spec = ExportJob(
            model, meta, path, job.format, job.precision, out_dir, tile or job.tile, z_variant and job.z_input_variant,
            images, calibration, noises, sets, left_out=job.left_out, generated_calibration=calibrate_generated,
            options=options,
        )  # fmt: skip
        specs.append((job.name, spec))
    results = run_jobs(specs, workers or default_workers(len(specs)), log=typer.echo)
    statuses = [s for result in results for s in result.statuses]
    groups = [_rows(e, name) for (name, _), result in zip(specs, results) for e in result.entries]
    typer.echo(markdown([row for group in groups for row in group]))
    typer.echo(count_line(statuses))
    # the main job as the README runs it: its table is the committed record (benchmarks/parity.json and .md)
    canonical = (target or target_opt) == "all" and not any(
        (out, tile, images, noise, photo_sets, weights, variant, keep_float, calibrate_generated)
    )
    if canonical and not sensitivity:
        for path in record_export_all(groups, time.monotonic() - started):
            typer.echo(f"wrote {path}", err=True)
    failed, unverified = statuses.count("fail"), statuses.count("unverified")
    if failed:
        fail(f"{failed} artifact(s) failed their parity gate (renamed *.rejected)", 1)
    if unverified and not allow_unverified:
        fail(f"{unverified} artifact(s) could not be executed here (unverified; --allow-unverified accepts that)", 1)


def _rows(entry: dict, target: str) -> list:
    """The parity rows recorded in a manifest entry, named ``target/file`` (the same file name is in several
    targets)."""
    from invdn_mobile.parity import ParityRow, unverified_row

    if "parity" not in entry or "status" not in entry["parity"]:  # an export from before statuses: never executed
        rows = [unverified_row(entry["file"], entry["format"], entry["precision"], "no parity recorded")]
    else:
        rows = [ParityRow.from_dict(entry[k]) for k in ("parity", "parity_fp16_compute") if k in entry]
    for r in rows:
        r.artifact = f"{target}/{entry['file']}"
    return rows


def _sensitivity(job, options, model, meta, images: Path | None, calibration: Path | None, export_tile: int) -> dict:
    """The INT8 sensitivity search for one job, with a progress bar; the export-option fields it implies."""
    from invdn_mobile.cli.common import progress_bar
    from invdn_mobile.export.sensitivity import choose_keep_float

    with progress_bar() as bar:
        task = bar.add_task("sensitivity", total=None)
        result, fields = choose_keep_float(
            job.format, job.precision, model, meta, images, calibration, export_tile, options, log=typer.echo,
            progress=lambda: bar.advance(task),
        )  # fmt: skip
    typer.echo(result.table())
    typer.echo(
        f"  keep in float: {', '.join(result.keep_float) or 'nothing'} (drop {result.chosen_drop:+.3f} dB mean, "
        f"{result.chosen_worst:+.3f} dB worst crop, at tile {min(export_tile, result.tile)})"
    )
    return fields


@cli_errors
def parity(
    paths: Annotated[
        list[Path], typer.Argument(help="Artifacts, export folders (with manifest.json), or folders of them.")
    ],
    images: ImagesOpt = None,
    photo_sets: SetOpt = None,
    noise: NoiseOpt = None,
    weights: WeightsOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON rows.")] = False,
    recorded: Annotated[
        bool,
        typer.Option(
            "--recorded",
            help="Run nothing: print the parity table recorded in the manifests (e.g. `invdn parity export/out "
            "--recorded` for the README).",
        ),
    ] = False,
) -> None:
    """Execute artifacts on the parity set (held-out and stress photos) against the PyTorch FP32 denoiser and the
    clean photos; print each row with its status (pass, fail, unverified) and exit non-zero when any fails."""
    from invdn_mobile.export.manifest import entry_for, read_manifest, weights_for_entry
    from invdn_mobile.export.references import parity_reference
    from invdn_mobile.export.registry import get_format
    from invdn_mobile.export.run import check_artifact
    from invdn_mobile.model.checkpoint import load_weights
    from invdn_mobile.parity import combined_status, count_line, markdown

    entries = []
    for p in paths:
        if not p.is_dir() or p.suffix == ".mlpackage":  # an artifact (a Core ML package is a folder)
            entries.append((p, entry_for(p)))
            continue
        folders = [p] if (p / "manifest.json").is_file() else sorted(f.parent for f in p.glob("*/manifest.json"))
        if not folders:
            fail(f"{p}: no manifest.json in it or in its folders (not an export folder)")
        entries += [(f / e["file"], e) for f in folders for e in read_manifest(f)]
    noises, sets = _noises(noise), _sets(photo_sets)
    groups = []
    for path, entry in entries:
        if recorded:
            groups.append(_rows(entry, path.parent.name))
            continue
        if not path.exists():
            fail(f"{path}: listed in its manifest but missing")
        fmt = get_format(entry["format"])
        wpath = weights_for_entry(entry, weights)
        model, _ = load_weights(wpath)
        z = entry["z"]
        pset = parity_reference(model, wpath, entry["tile"][0], z["seed"], z["scale"], images, noises, sets)
        groups.append(check_artifact(path, entry, fmt, pset))
        for r in groups[-1]:
            r.artifact = f"{path.parent.name}/{path.name}"
    rows = [r for g in groups for r in g]
    if as_json:
        for r in rows:
            typer.echo(json.dumps(r.to_dict()))
    else:
        typer.echo(markdown(rows))
    statuses = [combined_status(g) for g in groups]
    typer.echo(count_line(statuses), err=as_json)
    bad = [path.name for (path, _), status in zip(entries, statuses) if status == "fail"]
    if bad and not recorded:
        fail(f"parity gate failed: {', '.join(bad)}", 1)


@cli_errors
def ranges(
    target: Annotated[str, typer.Argument(help="An INT8 recipe name (e.g. android-npu-int8-s16).")],
    variant: VariantOpt = None,
    tile: Annotated[int, typer.Option("--tile", help="Tile of the cases and calibration crops.")] = 128,
    calibration: Annotated[
        Path | None,
        typer.Option(help="Clean photos for INT8 calibration [default: samples/calibration].", show_default=False),
    ] = None,
    generated: Annotated[
        bool,
        typer.Option(
            "--generated/--photos-only",
            help="Calibrate with the generated stress crops too (as `invdn export --calibrate-generated`), or on the "
            "calibration photos only (as `invdn export` does by default).",
        ),
    ] = False,
    headroom: Annotated[
        float,
        typer.Option(
            "--headroom", min=1.0, help="Widen every calibrated range about its middle by this factor (1: as seen)."
        ),
    ] = 1.0,
    top: Annotated[int, typer.Option("--top", help="Tensors shown.")] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="Print every tensor as JSON.")] = False,
) -> None:
    """Range coverage of a recipe's INT8 calibration on the stress photos: for each tensor of the every-op INT8
    graph (its exact rewrites applied), the range calibrated on the calibration crops against the range the stress
    photos reach, the fraction of values that saturate, and what clamping them costs in dB (per coupling, then per
    tensor in the costliest two). Cases where the float model leaves its domain are left out, as the gate does.

    Example: `invdn ranges android-npu-int8-s16 --variant compact`."""
    from invdn_mobile.denoise import resolve_weights
    from invdn_mobile.export.ranges import for_recipe
    from invdn_mobile.export.targets import get_target
    from invdn_mobile.model.checkpoint import load_weights
    from invdn_mobile.tiling import check_options

    recipe = get_target(target)
    if recipe.precision != "int8" or recipe.format == "coreml":
        fail(f"{target}: not an INT8 recipe that calibrates activation ranges")
    check_options(tile, None, whole=False)
    model, meta = load_weights(resolve_weights(None, variant or recipe.variant), variant or recipe.variant)
    result = for_recipe(recipe, model, meta, tile, calibration, generated, headroom=headroom)
    if as_json:
        typer.echo(json.dumps({"cases": result.cases, "groups": result.groups,
                               "tensors": [t.to_dict() for t in result.tensors]}))  # fmt: skip
    else:
        typer.echo(result.table(top))
