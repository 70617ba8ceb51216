"""Target recipes: one TOML file per deployment target in ``export/targets/`` (format, precision, tile, variants,
INT8 options), typed and checked against the format table; the options one export reads (:class:`ExportOptions`);
and the plan of what ``invdn export`` runs (:func:`plan`).

A recipe is refused with one line naming the file, the key and the reason when a key is unknown, a value has the
wrong type (a string where a list is asked, ``"no"`` for a bool), or an option is one its format's exporter does
not read (``Format.options``) or that needs another option (``integer_io`` without ``full_integer``).
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, ValidationError, model_validator

from invdn_mobile.errors import InvdnError
from invdn_mobile.export.registry import FORMATS, ExportOptions, check_precision, get_format
from invdn_mobile.model.variants import VARIANTS
from invdn_mobile.schema import Strict, one_line
from invdn_mobile.tiling import DEFAULT_TILE

TARGETS_DIR = Path(__file__).resolve().parent / "targets"

# options that only mean something for a full-integer export, those for an INT8 that calibrates activations, those
# for an INT8 that quantizes activations (calibrated, or at run time), and those for any 8-bit export (weight-only too)
FULL_INTEGER_OPTIONS = ("integer_io", "equalize", "activation_bits", "state_bits", "sub_free")
INT8_OPTIONS = ("full_integer", "reduce_range", *FULL_INTEGER_OPTIONS)
KEEP_FLOAT_OPTIONS = ("keep_float", "keep_float_from")
ANY_INT8_OPTIONS = ("split_concats",)


class Target(Strict):
    """One recipe (the TOML file's keys; ``name`` is the file's stem)."""

    name: str
    format: str
    precision: str
    tile: Annotated[int, Field(ge=4, multiple_of=4)] = DEFAULT_TILE
    variants: list[str] = Field(default=["paper"], min_length=1)  # variants `export all` makes; first = default
    z_input_variant: bool = True  # also export the artifact that takes z as a second input
    description: str = ""
    in_all: bool = True  # made by `invdn export all` (false: only by name, e.g. a recipe that misses its gate today)
    left_out: str = ""  # with in_all = false: why (written into the manifest of an export by name, and the docs)
    cpu_only: bool = False
    # INT8: layers kept in float (see --sensitivity): one list for every variant, or a table keyed by variant; or
    # the name of the recipe whose list this one shares (the same graph and quantizer)
    keep_float: list[str] | dict[str, list[str]] = []
    keep_float_from: str | None = None
    full_integer: bool = False
    integer_io: bool = False
    equalize: bool = False
    activation_bits: Literal[8, 16] = 8
    state_bits: Literal[8, 16] | None = None
    sub_free: bool = False
    split_concats: bool = False
    reduce_range: bool = False

    @model_validator(mode="before")
    @classmethod
    def _one_variant(cls, data):
        if isinstance(data, dict) and "variant" in data:  # one variant: shorthand for variants = [it]
            if "variants" in data:
                raise ValueError("give variant or variants, not both")
            data = {**{k: v for k, v in data.items() if k != "variant"}, "variants": [data["variant"]]}
        return data

    @model_validator(mode="after")
    def _consistent(self) -> Target:
        unknown = sorted(set(self.variants) - set(VARIANTS))
        if unknown:
            raise ValueError(f"unknown variants {unknown} (known: {', '.join(VARIANTS)})")
        if self.format not in FORMATS:
            raise ValueError(f"unknown format {self.format!r} (known: {', '.join(FORMATS)})")
        fmt = FORMATS[self.format]
        if self.precision not in fmt.precisions:
            raise ValueError(f"format {fmt.name} has no precision {self.precision!r} ({', '.join(fmt.precisions)})")
        given = self.model_fields_set
        for key in sorted(given & set(Target.model_fields) - set(_COMMON)):
            reads = fmt.options + (("keep_float_from",) if "keep_float" in fmt.options else ())
            if key not in reads:
                raise ValueError(f"{key}: the {fmt.name} exporter does not read it (it reads: {', '.join(reads)})")
            if key in INT8_OPTIONS and self.precision not in fmt.needs_calibration:
                raise ValueError(f"{key}: only for an INT8 export that calibrates activations, not {self.precision}")
            if key in KEEP_FLOAT_OPTIONS and self.precision not in fmt.searched:
                raise ValueError(f"{key}: only for an INT8 export that quantizes activations, not {self.precision}")
            if key in FULL_INTEGER_OPTIONS and not self.full_integer:
                raise ValueError(f"{key}: needs full_integer = true")
            if key in ANY_INT8_OPTIONS and not self.precision.startswith("int8"):
                raise ValueError(f"{key}: only for an INT8 export, not {self.precision}")
        if isinstance(self.keep_float, dict) and set(self.keep_float) - set(VARIANTS):
            raise ValueError(f"keep_float: unknown variants {sorted(set(self.keep_float) - set(VARIANTS))}")
        if not self.in_all and not self.left_out.strip():
            raise ValueError('in_all = false needs left_out = "why it is not in `export all`"')
        if self.in_all and self.left_out:
            raise ValueError("left_out is for a recipe with in_all = false")
        if self.keep_float_from is not None and "keep_float" in given:
            raise ValueError("give keep_float or keep_float_from, not both")
        return self

    @property
    def variant(self) -> str:
        return self.variants[0]

    @property
    def accelerators(self) -> tuple[str, ...]:
        """The LiteRT accelerators an app may offer for a TFLite recipe's files (recorded in the manifest): the CPU
        always; the GPU where the export checked the file against the GPU delegate's ops (not ``cpu_only``; hybrid
        int8dyn convolutions and 16-bit integer ops have no GPU kernel); an NPU where every op is integer (checked on
        the written file). Empty for other formats (no LiteRT accelerator choice)."""
        if self.format != "tflite":
            return ()
        return ("cpu",) + (() if self.cpu_only else ("gpu",)) + (("npu",) if self.full_integer else ())

    def options(self, variant: str, keep_float: list[str] | None = None) -> ExportOptions:
        """The options of this recipe's export of ``variant`` (``keep_float`` overrides the recipe's list)."""
        keep = self.keep_float.get(variant, []) if isinstance(self.keep_float, dict) else self.keep_float
        return ExportOptions(
            keep_float=tuple(keep if keep_float is None else keep_float),
            cpu_only=self.cpu_only,
            full_integer=self.full_integer,
            integer_io=self.integer_io,
            equalize=self.equalize,
            activation_bits=self.activation_bits,
            state_bits=self.state_bits,
            sub_free=self.sub_free,
            split_concats=self.split_concats,
            reduce_range=self.reduce_range,
            accelerators=self.accelerators,
        )


_COMMON = ("name", "format", "precision", "tile", "variants", "z_input_variant", "description", "in_all", "left_out")


def parse_target(name: str, data: dict, source: Path | str) -> Target:
    """One recipe from its TOML table; one-line errors naming ``source``, the key and the reason."""
    if "name" in data:
        raise InvdnError(f"{source}: unknown key 'name' (a recipe's name is its file name)")
    try:
        return Target.model_validate({**data, "name": name})
    except ValidationError as exc:
        raise one_line(exc, source, "recipe") from None


def load_targets(folder: Path = TARGETS_DIR) -> dict[str, Target]:
    targets = {}
    for path in sorted(folder.glob("*.toml")):
        try:
            data = tomllib.loads(path.read_text())
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise InvdnError(f"{path}: invalid TOML ({exc})") from None
        targets[path.stem] = parse_target(path.stem, data, path)
    for name, target in targets.items():  # shared keep_float lists
        if target.keep_float_from is None:
            continue
        source = targets.get(target.keep_float_from)
        if source is None or source.keep_float_from is not None or source.format != target.format:
            raise InvdnError(
                f"{folder / (name + '.toml')}: keep_float_from = {target.keep_float_from!r}: must name a recipe of "
                f"the same format ({target.format}) that has its own keep_float"
            )
        targets[name] = target.model_copy(update={"keep_float": source.keep_float})
    return targets


def get_target(name: str) -> Target:
    targets = load_targets()
    if name not in targets:
        raise InvdnError(f"unknown target {name!r}; choose one of: {', '.join(targets)}")
    return targets[name]


def all_format_precisions() -> list[tuple[str, str]]:
    return [(f.name, p) for f in FORMATS.values() for p in f.precisions]


def plan(
    name: str | None,
    fmt: str | None,
    precision: str | None,
    variant: str | None,
    custom_weights: bool,
    cpu_only: bool = False,
) -> list[tuple[Target, str | None]]:
    """What ``invdn export`` runs: ``(recipe, variant)`` pairs, every one checked before any work. ``name`` is a
    recipe or ``all`` (the recipes with ``in_all``); or ``fmt`` and ``precision`` give an ad-hoc recipe (with
    ``cpu_only`` where asked). The variant is ``variant`` when given, the weights file's own (None) for custom weights,
    else each recipe's list."""
    if name and (fmt or precision):
        raise InvdnError("give a target, or --format and --precision, not both")
    if name and cpu_only:
        raise InvdnError("--cpu-only goes with --format and --precision (a recipe says cpu_only itself)")
    if name == "all":
        jobs = [t for t in load_targets().values() if t.in_all]
    elif name:
        jobs = [get_target(name)]
    elif fmt and precision:
        check_precision(get_format(fmt), precision)
        recipe = {"format": fmt, "precision": precision, "variants": [variant or "paper"]}
        jobs = [parse_target(f"{fmt}-{precision}", recipe | ({"cpu_only": True} if cpu_only else {}), "options")]
    else:
        raise InvdnError("say what to export: a target (see --help), 'all', or --format and --precision")
    return [(job, v) for job in jobs for v in ([variant] if variant else [None] if custom_weights else job.variants)]
