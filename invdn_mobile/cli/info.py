"""``invdn info``: parameters and MACs, counted by the code."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from invdn_mobile.cli.common import VariantOpt, WeightsOpt, cli_errors
from invdn_mobile.errors import InvdnError

MACS_BASE = 64  # side of the square input the MACs are counted on (a multiple of every variant's multiple)


@cli_errors
def info(
    variant: VariantOpt = None,
    weights: WeightsOpt = None,
    size: Annotated[str, typer.Option("--size", help="Input size HxW (or one number for a square).")] = "256x256",
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Parameters and MACs of forward, reverse and the whole denoiser at a given size, and per megapixel."""
    from invdn_mobile.model import InvDN, get_variant
    from invdn_mobile.model.checkpoint import load_weights
    from invdn_mobile.model.macs import model_macs

    height, width = parse_size(size)
    if weights is not None:
        model, meta = load_weights(weights, variant)
        name = meta.get("variant") or variant or "custom"
    else:
        name = variant or "paper"
        model = InvDN(get_variant(name))
    if height % model.config.multiple or width % model.config.multiple:
        raise InvdnError(f"--size {height}x{width}: both sides must be multiples of {model.config.multiple}")
    # The network is fully convolutional: its MACs are exactly proportional to the pixels (at sides that are multiples
    # of config.multiple), so they are counted once on a small input and scaled, whatever --size asks for.
    base = max(MACS_BASE, model.config.multiple)
    macs = {k: v * height * width // (base * base) for k, v in model_macs(model, base, base).items()}
    mpix = height * width / 1e6
    result = {
        "variant": name,
        "config": model.config.to_dict(),
        "params": model.num_params(),
        "size": [height, width],
        "macs": macs,
        "macs_per_megapixel": {k: round(v / mpix) for k, v in macs.items()},
    }
    if as_json:
        typer.echo(json.dumps(result))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"InvDN {name}: {result['params']:,} parameters, input {height}x{width}")
    table.add_column("pass")
    table.add_column("GMAC", justify="right")
    table.add_column("GMAC / megapixel", justify="right")
    for key in ("forward", "reverse", "denoiser"):
        table.add_row(key, f"{macs[key] / 1e9:.2f}", f"{macs[key] / 1e9 / mpix:.2f}")
    Console().print(table)


def parse_size(text: str) -> tuple[int, int]:
    parts = text.lower().replace(",", "x").split("x")
    try:
        values = [int(p) for p in parts]
    except ValueError:
        raise InvdnError(f"--size {text!r}: use HxW, e.g. 256x256") from None
    if len(values) == 1:
        values *= 2
    if len(values) != 2 or min(values) < 1 or max(values) > 16384:
        raise InvdnError(f"--size {text!r}: use HxW with sides from 1 to 16384")
    return values[0], values[1]
