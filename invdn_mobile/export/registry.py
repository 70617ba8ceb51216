"""The one table of export formats: CLI choices, validation, ``export all``, parity and benchmarks all read it.

A new format is one row here (with the recipe options its exporter reads), one backend module with
``export(denoiser, precision, tile, path, calibration, options: ExportOptions)`` and
``inspect(path) -> {"ops", "max_rank", "macs"}`` (plus ``validate(path, entry) -> problems`` for a structural check
of the file against its manifest entry), and one runtime in ``invdn_mobile.runtimes``. Rows are looked up by name,
never by position.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field

from invdn_mobile.errors import InvdnError

# int8dyn: int8 weights, activations quantized at run time (TFLite's dynamic-range mode; float I/O)
# int8w: int8 weights only, dequantized to float where the model is loaded; float activations and compute (TFLite;
#   Core ML's int8 is the same kind of file under the name int8, 8-bit weights with FP16 compute)
PRECISIONS = ("fp32", "fp16", "int8", "int8dyn", "int8w")


@dataclass(frozen=True)
class ExportOptions:
    """What one export reads beyond format, precision and tile (a backend reads only the fields its format lists in
    ``Format.options``)."""

    keep_float: tuple[str, ...] = ()  # INT8: layers whose name contains one of these stay float
    cpu_only: bool = False  # TFLite: skip the LiteRT GPU delegate op check
    full_integer: bool = False  # INT8: every op integer (checked on the written file; docs/int8.md)
    integer_io: bool = False  # full-integer TFLite: int8 input and output instead of float
    equalize: bool = False  # full integer: cross-layer equalization of the weights first (exact float rescaling)
    activation_bits: int = 8  # full integer: 16 = 16-bit activations with int8 weights (a16w8)
    state_bits: int | None = None  # full integer, mixed: the coupling state at these bits, the blocks' convs at 8
    sub_free: bool = False  # full integer: the couplings rewritten without SUB (exact; model.coupling.sub_free)
    split_concats: bool = False  # any INT8: no concatenation, Haar split per channel group (exact; model.split)
    reduce_range: bool = False  # ONNX INT8: 7-bit weights (x86 without VNNI saturates int16 pair sums otherwise)
    accelerators: tuple[str, ...] = ()  # TFLite: the LiteRT accelerators an app may run the file on (the manifest's)
    sensitivity: dict | None = field(default=None, compare=False)  # the INT8 search that chose keep_float, if any


@dataclass(frozen=True)
class Format:
    name: str
    suffix: str
    precisions: tuple[str, ...]
    layout: str  # of the artifact's tensors
    backend: str  # module with export() and inspect() (and validate(), a structural check, where it has one)
    runtime: str  # name in invdn_mobile.runtimes.RUNTIMES, or "" when nothing here can run it
    extra: str  # pip extra with the toolchain
    needs_calibration: tuple[str, ...] = ()  # precisions that need calibration data
    # precisions that quantize activations, whose export keeps the layers a recipe's ``keep_float`` names in float
    # (the list `invdn export --sensitivity` searches for); the backend has the search's hooks
    searched: tuple[str, ...] = ()
    directory: bool = False  # the artifact is a folder (e.g. .mlpackage)
    why_not_run: str = ""  # when runtime is "": why the artifact stays unverified
    image_io: bool = False  # the constant-z artifact takes and gives an RGB image (the -zin twin: tensors)
    # the runtime here computes in FP32 whatever the artifact stores, so FP16 artifacts also get an FP16-compute row
    fp16_compute_row: bool = False
    # the recipe options (fields of ExportOptions) its exporter reads; a recipe setting another is refused
    options: tuple[str, ...] = ()
    # its precisions start from one conversion that the backend keeps in the process (TFLite: the FP32 flatbuffer),
    # so `export all` runs the jobs of one model in this format in one worker (export/batch.py)
    shared_conversion: bool = False

    def module(self):
        return importlib.import_module(self.backend)


FORMATS: dict[str, Format] = {}


def register(fmt: Format) -> Format:
    if fmt.name in FORMATS:
        raise RuntimeError(f"export format {fmt.name!r} registered twice")
    unknown = set(fmt.precisions) - set(PRECISIONS)
    if unknown:
        raise RuntimeError(f"export format {fmt.name!r}: unknown precisions {sorted(unknown)}")
    FORMATS[fmt.name] = fmt
    return fmt


register(
    Format(
        name="onnx",
        suffix=".onnx",
        precisions=("fp32", "fp16", "int8"),
        layout="NCHW",
        backend="invdn_mobile.export.onnx",
        runtime="onnxruntime",
        extra="export-onnx",
        needs_calibration=("int8",),
        searched=("int8",),
        fp16_compute_row=True,
        options=("keep_float", "full_integer", "activation_bits", "state_bits", "equalize", "sub_free",
                 "split_concats", "reduce_range"),
    )
)
register(
    Format(
        name="tflite",
        suffix=".tflite",
        precisions=("fp32", "fp16", "int8", "int8dyn", "int8w"),
        layout="NHWC",
        backend="invdn_mobile.export.tflite",
        runtime="litert",
        extra="export-tflite",
        needs_calibration=("int8",),
        searched=("int8", "int8dyn"),
        fp16_compute_row=True,
        options=("keep_float", "full_integer", "integer_io", "activation_bits", "state_bits", "equalize", "sub_free",
                 "split_concats", "cpu_only"),
        shared_conversion=True,
    )
)
register(
    Format(
        name="coreml",
        suffix=".mlpackage",
        precisions=("fp32", "fp16", "int8"),
        layout="NCHW",
        backend="invdn_mobile.export.coreml",
        runtime="coreml-mil",  # the reference evaluator of the ML Program, in the program's own precision
        extra="export-coreml",
        directory=True,
        image_io=True,
        options=("split_concats",),
    )
)
register(
    Format(
        name="executorch",
        suffix=".pte",
        precisions=("fp32", "int8"),
        layout="NCHW",
        backend="invdn_mobile.export.executorch",
        runtime="executorch",  # ExecuTorch's runtime with the XNNPACK delegate, as on a phone's CPU
        extra="export-executorch",
        needs_calibration=("int8",),
        searched=("int8",),
        options=("keep_float", "split_concats"),
    )
)
register(
    Format(
        name="executorch-coreml",
        suffix=".pte",
        precisions=("fp16",),
        layout="NCHW",
        backend="invdn_mobile.export.executorch_coreml",
        # the delegated ML Program, unpacked from the .pte and run by the reference evaluator (FP16 arithmetic)
        runtime="executorch-coreml-mil",
        extra="export-executorch",
    )
)


def get_format(name: str) -> Format:
    try:
        return FORMATS[name]
    except KeyError:
        raise InvdnError(f"unknown format {name!r}; choose one of: {', '.join(FORMATS)}") from None


def check_precision(fmt: Format, precision: str) -> None:
    if precision not in fmt.precisions:
        raise InvdnError(
            f"format {fmt.name} has no precision {precision!r}; choose one of: {', '.join(fmt.precisions)}"
        )
