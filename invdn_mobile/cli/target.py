"""``invdn target arm64``: exported artifacts on the phone's own aarch64 CPU kernels, emulated here."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

import typer

from invdn_mobile.cli.common import WeightsOpt, cli_errors, fail
from invdn_mobile.cli.export import ImagesOpt, _noises

ARM_NOISE = "camera:iso3200"
target = typer.Typer(
    help="Run exported artifacts on a target's own kernels where this machine can emulate them.",
    no_args_is_help=True,
)


@target.command("arm64")
@cli_errors
def arm64(
    paths: Annotated[
        list[Path], typer.Argument(help="Artifacts, export folders (with manifest.json), or folders of them.")
    ],
    core: Annotated[
        list[str] | None,
        typer.Option(
            "--core",
            help="Emulated core (repeatable): cortex-a76 (dot product, FP16), neoverse-n2-class (QEMU max: SVE2, "
            "i8mm) [default: both].",
            show_default=False,
        ),
    ] = None,
    fp16: Annotated[
        bool,
        typer.Option(
            "--fp16/--no-fp16",
            help="Also run each FP16 TFLite file with XNNPACK forced to FP16 arithmetic, on the first core.",
        ),
    ] = True,
    gpu: Annotated[
        bool,
        typer.Option(
            "--gpu/--no-gpu",
            help="Also run each float TFLite file on LiteRT's GPU accelerator (WebGPU) over Chromium's SwiftShader "
            "Vulkan, on this machine's CPU (not emulated ARM).",
        ),
    ] = True,
    tiles: Annotated[
        int,
        typer.Option(help="Tiles of the set on the first core (the first N; 0: every held-out photo)."),
    ] = 2,
    other_core_tiles: Annotated[
        int,
        typer.Option(
            help="Tiles on the other cores (their instructions, x86 difference and gate on those; the first call "
            "also packs the weights, so 2 gives one steady count).",
        ),
    ] = 2,
    images: ImagesOpt = None,
    noise: Annotated[
        list[str] | None,
        typer.Option(
            "--noise",
            help="Noise added to the held-out photos (repeatable) [default: camera:iso3200; one level: every call "
            "is slow under emulation].",
            show_default=False,
        ),
    ] = None,
    weights: WeightsOpt = None,
    machine: Annotated[str, typer.Option(help="Machine label of the results file.")] = "qemu-aarch64",
    out: Annotated[
        Path | None,
        typer.Option(
            help="Results file, rewritten after each artifact [default: benchmarks/results/MACHINE-DATE.json]."
        ),
    ] = None,
    table: Annotated[Path | None, typer.Option(help="Also write the Markdown table here.")] = None,
    profile: Annotated[
        Path | None,
        typer.Option(
            help="Also split one call's instructions by function and kind of work (convolution, quantize, ...) on "
            "the first core, per artifact, into this Markdown file (sections of other artifacts in it are kept).",
        ),
    ] = None,
) -> None:
    """Run artifacts with the aarch64 LiteRT (XNNPACK) and ONNX Runtime wheels under qemu-aarch64 on emulated ARM
    cores (set up once by scripts/arm64_root.sh), on a fixed set of tiles: the first held-out photos at each noise
    level, one tile each (every call is slow under emulation). Per artifact and core it records the max abs
    difference to this machine's x86 run, the error against PyTorch judged by the artifact's gate (`pass` only when
    executed and within it) and the ARM instructions of one model call (a QEMU plugin's count: deterministic, but
    not phone milliseconds). Exits 1 when any gate fails.

    Example: `invdn export android-cpu-int8 --tile 64 --no-z-variant -o export/out/tile64/android-cpu-int8` then
    `invdn target arm64 export/out/tile64` (docs/targets.md)."""
    import json

    from invdn_mobile.atomic import atomic_write_bytes
    from invdn_mobile.bench import arm64 as bench_arm64
    from invdn_mobile.bench import schema
    from invdn_mobile.bench.report import arm_markdown
    from invdn_mobile.parity import count_line
    from invdn_mobile.runtimes import arm64 as runtime

    cores = [runtime.get_core(c).name for c in core or runtime.CORES]
    noises = _noises(noise or [ARM_NOISE])
    pairs = bench_arm64.artifacts(paths)
    problem = runtime.ready()
    if problem:
        fail(problem)
    date = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d")
    out = out or Path("benchmarks/results") / f"{machine}-{date}.json"
    # rows of other artifacts already in the file (an earlier run of this command) stay; these replace their own
    if out.is_file():
        schema.load(out)  # a file that is not a results file: one error line before any work
    runs = []

    def record(run) -> None:
        runs.append(run)
        r = run.row
        ins = f"{run.steady:.3e} instructions/call" if run.steady else "not counted"
        diff = "—" if run.x86_diff is None else f"{run.x86_diff:.1e}"
        typer.echo(
            f"  {run.target}/{run.path.name} {run.backend} on {run.core}: {r.status}, {ins}, max diff to x86 {diff}, "
            f"max abs err {r.max_abs_err:.1e} ({run.seconds:.0f} s)"
        )
        doc = bench_arm64.document(runs, machine)
        # re-read: another run may have written the file meanwhile
        earlier = schema.load(out)["rows"] if out.is_file() else []
        doc["rows"] = bench_arm64.merge_rows(earlier, doc["rows"])
        schema.validate(doc, "arm64 results")
        atomic_write_bytes(out, (json.dumps(doc, indent=1) + "\n").encode())

    for path, entry in pairs:
        pset = bench_arm64.tile_set(entry, images, noises, weights)
        first = bench_arm64.first_tiles(pset, tiles)
        for i, c in enumerate(cores):
            some = first if i == 0 else bench_arm64.first_tiles(pset, other_core_tiles)
            record(bench_arm64.run_artifact(path, entry, c, some))
        if fp16 and bench_arm64.fp16_candidate(entry):
            record(bench_arm64.run_artifact(path, entry, cores[0], first, fp16=True))
        if gpu and bench_arm64.gpu_candidate(entry):
            record(bench_arm64.run_artifact(path, entry, bench_arm64.GPU, first))
        if profile:
            name = f"{path.parent.name}/{path.name}"
            section = bench_arm64.profile_markdown(
                name, cores[0], bench_arm64.profile_artifact(path, entry, cores[0], pset)
            )
            sections = bench_arm64.read_sections(profile) | {f"{name} on {cores[0]}": section}
            text = bench_arm64.PROFILE_HEAD + "\n".join(sections[k] for k in sorted(sections))
            atomic_write_bytes(profile, text.encode())
    rows = json.loads(out.read_text())["rows"]
    text = arm_markdown(rows)
    typer.echo(text)
    if table:
        atomic_write_bytes(table, (text + "\n").encode())
    typer.echo(count_line([r.row.status for r in runs]) + f"; results in {out}")
    failed = [f"{r.target}/{r.path.name} ({r.core})" for r in runs if r.row.status == "fail"]
    if failed:
        fail(f"gate failed on ARM: {', '.join(failed)}", 1)
