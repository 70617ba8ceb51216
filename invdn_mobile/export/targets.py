"""Target recipes: one TOML file per deployment target in ``export/targets/`` (format, precision, tile, variants,
INT8 layers kept in float), loaded and checked against the format table."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from invdn_mobile.errors import InvdnError
from invdn_mobile.export.registry import FORMATS, check_precision, get_format
from invdn_mobile.model.variants import VARIANTS

TARGETS_DIR = Path(__file__).resolve().parent / "targets"


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
    full_integer: bool = False  # INT8: every op int8 (checked on the written file; see docs/int8.md)
    integer_io: bool = False  # full-integer TFLite: int8 input and output instead of float
    equalize: bool = False  # full integer: cross-layer equalization of the weights first (exact float rescaling)
    activation_bits: int = 8  # full integer: 16 = 16-bit activations with int8 weights (a16w8)
    state_bits: int | None = None  # full integer, mixed: the coupling state at these bits, the blocks' convs at 8
    sub_free: bool = False  # full integer: the couplings rewritten without SUB (exact; model.coupling.sub_free)
    split_concats: bool = False  # full integer: no concatenation, Haar split per channel group (exact; model.split)
    reduce_range: bool = False  # ONNX INT8: 7-bit weights (x86 without VNNI saturates int16 pair sums otherwise)
    in_all: bool = True  # made by `invdn export all` (false: only by name, e.g. a recipe that misses its gate today)

    @property
    def variant(self) -> str:
        return self.variants[0]

    @property
    def accelerators(self) -> list[str] | None:
        """The LiteRT accelerators an app may offer for a TFLite recipe's files (recorded in the manifest): the CPU
        always; the GPU where the export checked the file against the GPU delegate's ops (not ``cpu_only``; hybrid
        int8dyn convolutions and 16-bit integer ops have no GPU kernel); an NPU where every op is integer (checked on
        the written file). None for other formats (no LiteRT accelerator choice)."""
        if self.format != "tflite":
            return None
        return ["cpu"] + ([] if self.cpu_only else ["gpu"]) + (["npu"] if self.full_integer else [])

    def options(self, variant: str) -> dict:
        keep = self.keep_float.get(variant, []) if isinstance(self.keep_float, dict) else self.keep_float
        options = {"cpu_only": self.cpu_only, "keep_float": list(keep)}
        if self.accelerators:
            options["accelerators"] = self.accelerators
        if self.full_integer:
            options |= {"full_integer": True, "integer_io": self.integer_io, "equalize": self.equalize}
            options |= {"activation_bits": self.activation_bits, "sub_free": self.sub_free}
            options |= {"split_concats": self.split_concats, "state_bits": self.state_bits}
        if self.reduce_range:
            options["reduce_range"] = True
        return options


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
        if target.activation_bits not in (8, 16) or target.state_bits not in (None, 8, 16):
            raise InvdnError(f"{path}: activation_bits must be 8 or 16, state_bits 8 or 16 (or absent)")
        fmt = get_format(target.format)
        check_precision(fmt, target.precision)
        targets[target.name] = target
    return targets


def get_target(name: str) -> Target:
    targets = load_targets()
    if name not in targets:
        raise InvdnError(f"unknown target {name!r}; choose one of: {', '.join(targets)}")
    return targets[name]


def all_format_precisions() -> list[tuple[str, str]]:
    return [(f.name, p) for f in FORMATS.values() for p in f.precisions]
