"""``invdn web`` (the browser demo) and ``invdn golden`` (golden vectors for the demo apps: tiling and replay)."""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Annotated

import typer

from invdn_mobile.cli.common import WeightsOpt, cli_errors


@cli_errors
def web(
    port: Annotated[int, typer.Option("--port", help="Port on 127.0.0.1 (0: any free port).")] = 8765,
    target: Annotated[
        list[str] | None,
        typer.Option("--target", help="ONNX target recipe to serve (repeatable; default: every web-* recipe)."),
    ] = None,
    out: Annotated[Path, typer.Option("-o", "--out", help="Folder the site is assembled in.")] = Path(
        "export/out/web-site"
    ),
    tile: Annotated[
        int | None, typer.Option("--tile", help="Export at this tile instead of the recipe's (multiple of 4).")
    ] = None,
    weights: WeightsOpt = None,
    no_serve: Annotated[bool, typer.Option("--no-serve", help="Build the site and exit without serving it.")] = False,
) -> None:
    """Serve the browser demo until Ctrl-C.

    Exports (or reuses) the web targets' ONNX artifacts into export/out/<target>, assembles the page with them in
    --out and serves it with COOP/COEP headers (needed for WASM threads). Needs the page's npm packages once:
    `npm ci --prefix web_demo`.

    Examples: `invdn web` (then open the printed address); `invdn web --target web-fp32 --port 8080`."""
    from invdn_mobile import web as site
    from invdn_mobile.tiling import check_options

    if tile is not None:
        check_options(tile, None, whole=False)
    if not no_serve:
        site.check_port(port)  # before minutes of export: can we listen there?
    targets = site.web_targets(target)
    site.onnxruntime_web_dist()  # before minutes of export: is the runtime installed?
    models = [m for t in targets if (m := site.ensure_exported(t, tile, weights, log=typer.echo)) is not None]
    folder = site.build_site(models, out)
    typer.echo(f"site: {folder} ({', '.join(m.path.name for m in models)})")
    if no_serve:
        return
    server = site.serve(folder, port)
    typer.echo(f"serving {site.url_of(server)} (Ctrl-C to stop)")
    signal.signal(signal.SIGTERM, _stop)  # `kill PID` stops it as cleanly as Ctrl-C
    try:
        while True:
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        server.shutdown()
        server.server_close()
    typer.echo("stopped")


def _stop(signum, frame) -> None:
    raise KeyboardInterrupt


@cli_errors
def golden(
    out: Annotated[Path, typer.Option("-o", "--out", help="Folder for the tiling JSON files.")] = Path("golden/tiling"),
    replay_out: Annotated[
        Path, typer.Option("--replay-out", help="Folder for the replay vectors (replay.json, manifest.json).")
    ] = Path("golden/replay"),
    replay_int8_out: Annotated[
        Path,
        typer.Option("--replay-int8-out", help="Folder for the replay vectors of the int8-I/O NPU artifact."),
    ] = Path("golden/replay-int8"),
    replay: Annotated[
        bool,
        typer.Option(
            "--replay/--no-replay",
            help="Also write the replay vectors: exports the Android FP32 and the int8-I/O NPU artifacts at tile "
            "64 and runs a sample photo through each with LiteRT (minutes).",
        ),
    ] = True,
) -> None:
    """Write the golden vectors the demo apps' ports are tested against: tiling (plans, blend windows, mirror
    padding, one blended image, strength) and the replay of a real artifact on a sample photo."""
    from invdn_mobile.golden import REPLAY_INT8_TARGET, REPLAY_TARGET, write_golden, write_replay

    for path in write_golden(out):
        typer.echo(str(path))
    if replay:
        for folder, target in ((replay_out, REPLAY_TARGET), (replay_int8_out, REPLAY_INT8_TARGET)):
            for path in write_replay(folder, log=typer.echo, target_name=target):
                typer.echo(str(path))
