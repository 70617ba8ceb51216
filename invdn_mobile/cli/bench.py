"""``invdn bench``: latency of every backend over a size sweep; ``invdn bench ingest``: add a phone/browser result."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated

import typer

from invdn_mobile.cli.common import WeightsOpt, cli_errors
from invdn_mobile.tiling import DEFAULT_TILE

bench = typer.Typer(
    help="Latency of every runnable backend (PyTorch eager/compile, ONNX Runtime, LiteRT; CUDA when present) over "
    "a size sweep, with the machine's measured peak MAC rates; rows of benchmarks/schema/results.schema.json.",
    invoke_without_command=True,
    no_args_is_help=False,
)


@bench.callback()
@cli_errors
def run(
    ctx: typer.Context,
    sizes: Annotated[str, typer.Option(help="Image sizes: N (square), HxW, or 12mp/4k/1080p; comma-separated.")] = (
        "128,256,512,1024"
    ),
    variant: Annotated[
        str | None, typer.Option(help="Variants to time, comma-separated (default: every bundled one).")
    ] = None,
    weights: WeightsOpt = None,
    device: Annotated[str, typer.Option(help="cpu, cuda, all (both), or auto (both when CUDA is present).")] = "auto",
    backends: Annotated[
        str | None,
        typer.Option(help="Glob patterns on backend or backend:precision, e.g. 'torch-*,litert-xnnpack:int8'."),
    ] = None,
    artifacts: Annotated[Path, typer.Option(help="Export folder with one subfolder per target.")] = Path("export/out"),
    targets: Annotated[
        str | None, typer.Option(help="Glob patterns on target recipe names for the artifact rows, e.g. 'onnx-*'.")
    ] = None,
    tile: Annotated[
        int, typer.Option(help="Tile of the PyTorch rows, a multiple of 4 up to 4096 (artifacts use their own).")
    ] = DEFAULT_TILE,
    repeats: Annotated[int, typer.Option(help="Timed runs per row (at most).")] = 10,
    warmup: Annotated[int, typer.Option(help="Untimed runs first (compilation included).")] = 1,
    max_seconds: Annotated[
        float, typer.Option(help="Stop timing a row after this long (--min-repeats at least).")
    ] = 20.0,
    min_repeats: Annotated[int, typer.Option(help="Timed runs per row at least.")] = 3,
    batch: Annotated[int, typer.Option(help="Tiles per runtime call (artifacts have batch 1).")] = 1,
    compile_: Annotated[bool, typer.Option("--compile/--no-compile", help="Include torch.compile rows.")] = True,
    threads: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Intra-op threads of PyTorch and of every artifact runtime (recorded in each row) [default: PyTorch's "
            "own, every core for the runtimes].",
            show_default=False,
        ),
    ] = None,
    machine: Annotated[str | None, typer.Option(help="Machine label for the results file name.")] = None,
    out: Annotated[
        Path | None, typer.Option(help="Results file (default benchmarks/results/MACHINE-DATE.json).")
    ] = None,
    save: Annotated[bool, typer.Option("--save/--no-save", help="Write the results file.")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print the results document as JSON.")] = False,
) -> None:
    """Time every backend at every size and write one results file."""
    if ctx.invoked_subcommand is not None:
        return
    from invdn_mobile.bench.harness import Settings, parse_sizes
    from invdn_mobile.bench.report import markdown_rows
    from invdn_mobile.bench.run import (
        benchmark,
        check_output,
        collect_backends,
        default_variants,
        devices_for,
        results_path,
    )
    from invdn_mobile.bench.run import save as save_doc
    from invdn_mobile.errors import InvdnError
    from invdn_mobile.tiling import check_options

    size_list = parse_sizes(sizes)
    for ok, message in (
        (repeats >= 1, f"--repeats must be at least 1, got {repeats}"),
        (min_repeats >= 1, f"--min-repeats must be at least 1, got {min_repeats}"),
        (warmup >= 0, f"--warmup must be at least 0, got {warmup}"),
        (batch >= 1, f"--batch must be at least 1, got {batch}"),
        (math.isfinite(max_seconds) and max_seconds > 0, f"--max-seconds must be a positive number, got {max_seconds}"),
    ):
        if not ok:
            raise InvdnError(message)
    check_options(tile, None, whole=False)
    if save:
        check_output(out)  # before any timing: a bad --out must not cost the whole sweep
    variants = [v.strip() for v in variant.split(",")] if variant else default_variants()
    if threads is not None:
        import torch

        torch.set_num_threads(threads)
    chosen = collect_backends(
        variants,
        devices_for(device),
        artifacts,
        tile,
        weights,
        compile_,
        [p.strip() for p in backends.split(",")] if backends else None,
        [p.strip() for p in targets.split(",")] if targets else None,
        threads,
    )
    settings = Settings(
        warmup=warmup,
        repeats=repeats,
        min_repeats=max(1, min(min_repeats, repeats)),
        max_seconds=max_seconds,
        batch=batch,
    )

    def on_row(row: dict) -> None:
        ms = (
            f"{row['median_ms']:.1f} ms"
            if row["median_ms"] is not None
            else row["status"] + ": " + row.get("error", "")
        )
        typer.echo(
            f"{row['backend']:<20} {row['precision']:<8} {row.get('variant') or '':<8} {row['size']:>10}  {ms}",
            err=True,
        )

    doc = benchmark(chosen, size_list, settings, machine, on_row)
    if save:
        path = save_doc(doc, out or results_path(doc))
        typer.echo(f"wrote {path}", err=True)
    if as_json:
        typer.echo(json.dumps(doc, indent=1))
    else:
        typer.echo(markdown_rows(doc["rows"]))


@bench.command()
@cli_errors
def photos(
    photos_: Annotated[
        str,
        typer.Option(
            "--photos",
            help="Synthetic noisy photos to make and denoise: a size (12mp, 50mp, 100mp, HxW) with .png (default) or "
            ".jpg, comma-separated.",
        ),
    ] = "12mp.png",
    variant: Annotated[str, typer.Option(help="Variants, comma-separated.")] = "compact",
    threads: Annotated[
        int | None, typer.Option(min=1, help="--threads of each `invdn denoise` [default: torch's, every core].")
    ] = None,
    tile: Annotated[int, typer.Option(help="--tile of each `invdn denoise`.")] = DEFAULT_TILE,
    keep: Annotated[
        Path | None, typer.Option(help="Folder to make the photos in and keep them (reused when there).")
    ] = None,
    machine: Annotated[str | None, typer.Option(help="Machine label for the results file name.")] = None,
    out: Annotated[
        Path | None, typer.Option(help="Results file (default benchmarks/results/MACHINE-DATE-photos.json).")
    ] = None,
) -> None:
    """Whole photos through `invdn denoise --profile`, each in its own process: wall time, the time per step
    (decode, sigma estimate, tile cutting, network, blend, encode) and the process's peak resident memory, as rows of
    the results schema (backend `invdn-denoise`); `invdn report` shows them in REPORT.md."""
    from invdn_mobile.atomic import make_dir
    from invdn_mobile.bench import photos as whole
    from invdn_mobile.bench import schema
    from invdn_mobile.bench.harness import machine_facts, results_document
    from invdn_mobile.bench.report import photo_rows
    from invdn_mobile.bench.run import RESULTS_DIR, check_output, save
    from invdn_mobile.tiling import check_options

    check_options(tile, None, whole=False)
    chosen = whole.parse_photos(photos_)
    check_output(out)

    def on_row(row: dict) -> None:
        seconds = row.get("breakdown_s") or {}
        typer.echo(
            f"{row['variant']:<8} {row['size']:>11} {row['photo_format']:<4} {row['status']:<6} "
            f"total {seconds.get('total', 0):.1f} s, host {seconds.get('host', 0):.2f} s, "
            f"peak RSS {row['peak_mem_bytes'] / 1e9:.2f} GB",
            err=True,
        )

    rows = whole.run(
        chosen,
        [v.strip() for v in variant.split(",") if v.strip()],
        threads,
        tile,
        make_dir(keep) if keep else None,
        on_row,
    )
    doc = schema.validate(results_document(rows, machine_facts("cpu", machine)), "bench results")
    path = save(doc, out or RESULTS_DIR / f"{doc['machine']['name']}-{doc['date'][:10]}-photos.json")
    typer.echo(f"wrote {path}", err=True)
    typer.echo(photo_rows(rows))


@bench.command()
@cli_errors
def ingest(
    file: Annotated[Path, typer.Argument(help="A results JSON file (e.g. from a demo app's benchmark mode).")],
    results: Annotated[Path, typer.Option(help="Results folder.")] = Path("benchmarks/results"),
    cores: Annotated[
        int | None, typer.Option(help="ExecuTorch benchmark-app results: the phone's CPU core count (not recorded).")
    ] = None,
    soc: Annotated[str | None, typer.Option(help="ExecuTorch benchmark-app results: the phone's SoC name.")] = None,
) -> None:
    """Validate a results file against the schema and add it to the results folder (a results file of ExecuTorch's
    benchmark apps, Android Minibench or the Apple benchmark app, is mapped into the schema first)."""
    from invdn_mobile.bench.run import ingest as ingest_file

    path = ingest_file(file, results, cores, soc)
    typer.echo(f"added {path}")


@cli_errors
def report(
    results: Annotated[Path, typer.Option(help="Folder of results files.")] = Path("benchmarks/results"),
    out: Annotated[Path, typer.Option("-o", "--output", help="Folder for REPORT.md, report.html, plots.")] = Path(
        "benchmarks"
    ),
) -> None:
    """Generate benchmarks/REPORT.md and a self-contained benchmarks/report.html (with plots) from the results.

    In a checkout (run from its root) it also re-renders every other document generated from committed data:
    benchmarks/parity.md (from parity.json), benchmarks/frontier.md (from frontier.json), the README's summary table
    and the model cards' generated sections."""
    from invdn_mobile.bench.generated import REPRODUCE, refresh
    from invdn_mobile.bench.report import build

    for path in build(results, out, REPRODUCE):
        typer.echo(f"wrote {path}")
    if (Path("benchmarks") / "parity.json").is_file():
        for path in refresh(Path("."), skip=("REPORT.md",)):  # REPORT.md: written above, from --results
            typer.echo(f"wrote {path}")
