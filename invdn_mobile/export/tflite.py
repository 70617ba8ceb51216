"""TFLite (LiteRT) backend: PyTorch -> litert-torch 0.10 -> FP32 flatbuffer with NHWC float32 I/O; ai-edge-quantizer
turns it into FP16 (float16 conv weights), INT8 (static: int8 weights and activations of every CONV_2D, calibrated on
real noisy crops, float I/O; layers named in ``keep_float`` stay float) or INT8-dynamic (int8 weights, activations
quantized at run time).

Why litert-torch and not onnx2tf: onnx2tf pins numpy < 2, onnx and onnxruntime below ours and pulls TensorFlow,
while litert-torch installs beside our toolchain and converts our graph exactly (max abs error ~7e-7) once the one
construct it mis-converts (``constant - x``) is avoided (see ``Coupling.inverse_parts``). Every artifact is listed
op by op and checked against the LiteRT GPU delegate's op list (``litert_gpu.toml``).
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import tomllib
from collections import Counter
from pathlib import Path

import numpy as np
import torch
from torch import nn

from invdn_mobile.errors import InvdnError
from invdn_mobile.export.integer import HIDDEN_MARK, fold_float_islands, mark_hidden, prepared, tflite_float_ops
from invdn_mobile.export.integer import integer_io as to_integer_io
from invdn_mobile.export.registry import ExportOptions
from invdn_mobile.extras import need
from invdn_mobile.model import Denoiser
from invdn_mobile.quiet import quiet
from invdn_mobile.runtimes.litert import LiteRTRunner, interpreter, ops_details

INPUT, Z_INPUT = "image", "z"
GPU_OPS_FILE = Path(__file__).resolve().parent / "litert_gpu.toml"
QUANTIZED_OP = "CONV_2D"  # ai-edge-quantizer 0.10 quantizes CONV_2D but not TRANSPOSE_CONV (the 2 inverse Haar ops)
# Full integer: every op ai-edge-quantizer 0.10 quantizes statically (its name for TRANSPOSE_CONV is CONV_2D_TRANSPOSE);
# EXP and LEAKY_RELU, which it leaves in float, are folded into int8 ops afterwards (invdn_mobile.export.integer).
FULL_INTEGER_OPS = ("CONV_2D", "CONV_2D_TRANSPOSE", "ADD", "SUB", "MUL", "LOGISTIC", "TANH", "CONCATENATION", "SLICE")
# The image in and out of the full-integer file: [0, 1] exactly (int8 code = 8-bit pixel value - 128; the output is
# clipped to [0, 1] by its quantization, as every caller clips it anyway).
IMAGE_RANGE = (0.0, 1.0)
_FP32_CACHE: dict[tuple, bytes] = {}


class ChannelsLast(nn.Module):
    """The denoiser with NHWC input, z and output (what LiteRT kernels and delegates want)."""

    def __init__(self, denoiser: Denoiser) -> None:
        super().__init__()
        self.denoiser = denoiser

    def forward(self, image: torch.Tensor, z: torch.Tensor | None = None) -> torch.Tensor:
        x = image.permute(0, 3, 1, 2)
        out = self.denoiser(x) if z is None else self.denoiser(x, z.permute(0, 3, 1, 2))
        return out.permute(0, 2, 3, 1)


def _require():
    need("ai_edge_quantizer", silent=True)
    return need("litert_torch", silent=True)


def _key(denoiser: Denoiser, tile: int) -> tuple:
    h = hashlib.sha256()
    for name, t in denoiser.state_dict().items():
        h.update(name.encode())
        h.update(t.detach().cpu().numpy().tobytes())
    return (h.hexdigest(), tile, denoiser.z_input)


def to_fp32(denoiser: Denoiser, tile: int) -> bytes:
    """The FP32 flatbuffer of ``denoiser`` at ``tile x tile`` (cached per weights, tile and z mode: the precisions of
    one export share one conversion)."""
    litert_torch = _require()
    key = _key(denoiser, tile)
    if key not in _FP32_CACHE:
        kwargs = {INPUT: torch.rand(1, tile, tile, 3)}
        if denoiser.z_input:
            kwargs[Z_INPUT] = denoiser.z_for(tile, tile).permute(0, 2, 3, 1).contiguous()
        with quiet():
            edge = litert_torch.convert(ChannelsLast(denoiser.eval()).eval(), sample_kwargs=kwargs)
            with _tmpfile(".tflite") as tmp:
                edge.export(str(tmp))
                _FP32_CACHE[key] = tmp.read_bytes()
    return _FP32_CACHE[key]


@contextlib.contextmanager
def _tmpfile(suffix: str):
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        yield Path(d) / f"model{suffix}"


def nhwc_feeds(calibration: list[dict[str, np.ndarray]]) -> list[dict[str, np.ndarray]]:
    return [{k: v.transpose(0, 2, 3, 1) for k, v in feed.items()} for feed in calibration]


def layer_names(model: bytes, op: str = QUANTIZED_OP) -> list[str]:
    """Output tensor names of every ``op`` in the flatbuffer (the names quantization recipes match)."""
    interp = interpreter(model)
    tensors = {t["index"]: t["name"] for t in interp.get_tensor_details()}
    return [tensors[o["outputs"][0]] for o in ops_details(interp) if o["op_name"] == op]


def quantize(model: bytes, precision: str, calibration=None, keep_float: tuple[str, ...] = ()) -> bytes:
    """``fp16``, ``int8`` (static, float I/O), ``int8dyn`` or ``int8w`` (weights only) from the FP32 flatbuffer
    ``model``; layers whose name contains any of ``keep_float`` stay FP32 (matched on the names that carry the PyTorch
    module path)."""
    _require()
    from ai_edge_quantizer import quantizer

    q = quantizer.Quantizer(model)
    regex = _regex(keep_float)
    if precision == "fp16":
        q.add_weight_only_config(regex, QUANTIZED_OP, 16, algorithm_key=quantizer.AlgorithmName.FLOAT_CASTING)
    elif precision == "int8":
        q.add_static_config(regex, QUANTIZED_OP, activation_num_bits=8, weight_num_bits=8)
    elif precision == "int8dyn":
        q.add_dynamic_config(regex, QUANTIZED_OP, num_bits=8)
    elif precision == "int8w":  # per-channel symmetric int8 weights, a DEQUANTIZE op before each float conv
        q.add_weight_only_config(regex, QUANTIZED_OP, 8)
    else:
        raise InvdnError(f"tflite: no quantization for {precision!r}")
    with quiet():
        calib = None
        if q.need_calibration:
            if not calibration:
                raise InvdnError("INT8 export needs calibration data")
            # calibrate every conv (a recipe that skips some leaves tensors it still needs without statistics)
            full = quantizer.Quantizer(model)
            full.add_static_config(".*", QUANTIZED_OP, activation_num_bits=8, weight_num_bits=8)
            calib = full.calibrate({"serving_default": nhwc_feeds(calibration)}, num_threads=1)
        result = q.quantize(calib, enable_progress_report=False)
    return bytes(result.quantized_model)


def quantize_full(
    model: bytes, calibration, integer_io: bool = False, activation_bits: int = 8, state_bits: int | None = None
) -> bytes:
    """Every op integer: int8 weights, ``activation_bits`` (8 or 16) activations (float I/O, or integer I/O with
    ``integer_io``), calibrated with the extremes over all calibration crops (ai-edge-quantizer's default moving
    average of per-crop extremes clips what later photos reach), the image input and output pinned to [0, 1].
    ``state_bits`` (mixed precision): the coupling state, its elementwise ops and the convolutions that read it at
    that many bits, the convolutions that read the residual blocks' hidden path
    (:func:`~invdn_mobile.export.integer.mark_hidden`: most of the MACs) at ``activation_bits``; a requantizing
    QUANTIZE where the two meet (the quantizer's, or :func:`~invdn_mobile.export.integer.fold_float_islands`' before
    a LEAKY_RELU, from the calibrated range of the convolution's output)."""
    _require()
    from ai_edge_quantizer import calibrator, quantizer
    from ai_edge_quantizer.utils import qsv_utils

    if not calibration:
        raise InvdnError("INT8 export needs calibration data")
    if state_bits and state_bits != activation_bits:
        model = mark_hidden(model)
    q = quantizer.Quantizer(model)
    for op in FULL_INTEGER_OPS:
        q.add_static_config(".*", op, activation_num_bits=state_bits or activation_bits, weight_num_bits=8)
    if state_bits and state_bits != activation_bits:  # the latest matching config wins
        q.add_static_config(re.escape(HIDDEN_MARK), "CONV_2D", activation_num_bits=activation_bits, weight_num_bits=8)
    with quiet():
        calib = calibrator.Calibrator(model, num_threads=1, qsv_update_func=qsv_utils.min_max_update)
        calib.calibrate({"serving_default": nhwc_feeds(calibration)}, q._recipe_manager)
        qsvs = calib.get_model_qsvs()
        interp = interpreter(model)
        for detail in interp.get_input_details()[:1] + interp.get_output_details():
            qsvs[detail["name"]] = {
                "min": np.full_like(qsvs[detail["name"]]["min"], IMAGE_RANGE[0]),
                "max": np.full_like(qsvs[detail["name"]]["max"], IMAGE_RANGE[1]),
            }
        data = bytes(q.quantize(qsvs, enable_progress_report=False).quantized_model)
    ranges = {k: (float(np.min(v["min"])), float(np.max(v["max"]))) for k, v in qsvs.items() if "min" in v}
    data = fold_float_islands(data, ranges=ranges)
    return to_integer_io(data, IMAGE_RANGE) if integer_io else data


def _regex(keep_float: tuple[str, ...]) -> str:
    """A regex matching every layer name except those containing one of ``keep_float``."""
    if not keep_float:
        return ".*"
    return "^(?!.*(" + "|".join(re.escape(k) for k in keep_float) + ")).*"


def export(denoiser: Denoiser, precision: str, tile: int, path: Path, calibration=None, options=None) -> None:
    """Write one ``.tflite`` to ``path`` (the caller makes the write atomic); fails when the artifact holds an op or
    tensor rank the LiteRT GPU delegate cannot run, unless ``options.cpu_only``."""
    options = options or ExportOptions()
    full = precision == "int8" and options.full_integer
    model = to_fp32(prepared(denoiser, options), tile)
    if full:
        model = quantize_full(
            model,
            calibration,
            options.integer_io,
            options.activation_bits,
            options.state_bits,
        )
        problems = tflite_float_ops(model)
        if problems:
            raise InvdnError(f"{Path(path).name}: not full-integer: {'; '.join(problems[:5])}")
    elif precision != "fp32":
        model = quantize(model, precision, calibration, options.keep_float)
    Path(path).write_bytes(model)
    if not options.cpu_only:
        problems = gpu_delegate_problems(inspect(path))
        if problems:
            raise InvdnError(f"{Path(path).name}: the LiteRT GPU delegate cannot run it: {'; '.join(problems)}")


def inspect(path: Path) -> dict:
    """Ops (name -> count), the highest tensor rank and the MACs of the CONV_2D/TRANSPOSE_CONV ops of a file (also
    split by the type of the activations each reads: how much of a quantized file's arithmetic is 8-bit)."""
    interp = interpreter(Path(path))
    shapes = {t["index"]: [int(d) for d in t["shape"]] for t in interp.get_tensor_details()}
    ops = ops_details(interp)
    dtypes = {t["index"]: np.dtype(t["dtype"]).name for t in interp.get_tensor_details()}
    macs, by_type, hybrid = 0, Counter(), Counter()
    for op in ops:
        if op["op_name"] == "CONV_2D":  # filter (out, kh, kw, in); output NHWC
            w = shapes[op["inputs"][1]]
            n = int(np.prod(shapes[op["outputs"][0]])) * int(np.prod(w[1:]))
            data = op["inputs"][0]
        elif op["op_name"] == "TRANSPOSE_CONV":  # inputs: output_shape, filter (out, kh, kw, in), input
            w = shapes[op["inputs"][1]]
            n = int(np.prod(shapes[op["inputs"][2]])) * int(np.prod(w[:3]))
            data = op["inputs"][2]
        else:
            continue
        macs += n
        by_type[dtypes[data]] += n  # by the type of the activations the convolution reads
        if dtypes[data] == "float32" and dtypes[op["inputs"][1]] == "int8":  # dynamic range: int8 weights, float data
            hybrid[op["op_name"]] += 1
    integer_io = {}
    for detail, side in [(d, "in") for d in interp.get_input_details()] + [
        (d, "out") for d in interp.get_output_details()
    ]:
        if np.dtype(detail["dtype"]) != np.float32:
            scale, zero = detail["quantization"]
            name = (INPUT if "image" in detail["name"] else Z_INPUT) if side == "in" else "denoised"
            integer_io[name] = {"dtype": np.dtype(detail["dtype"]).name, "scale": float(scale), "zero_point": int(zero)}
    return {
        "ops": dict(sorted(Counter(o["op_name"] for o in ops).items())),
        "max_rank": max((len(s) for s in shapes.values()), default=0),
        "macs": macs,
        "macs_by_input_type": dict(sorted(by_type.items())),
        "hybrid_ops": dict(sorted(hybrid.items())),
    } | ({"integer_io": integer_io} if integer_io else {})


def gpu_delegate_problems(report: dict) -> list[str]:
    """What in an :func:`inspect` report the LiteRT GPU delegate cannot run (empty: all of it runs)."""
    spec = tomllib.loads(GPU_OPS_FILE.read_text())
    problems = [f"op {op} x{n}" for op, n in sorted(report["ops"].items()) if op not in set(spec["ops"])]
    if report["max_rank"] > spec["max_rank"]:
        problems.append(f"a {report['max_rank']}-D tensor (the delegate takes at most {spec['max_rank']}-D)")
    # int8 weights read by float activations (dynamic-range INT8): the delegate has no hybrid kernels
    problems += [f"hybrid int8-weight {op} x{n}" for op, n in report.get("hybrid_ops", {}).items()]
    return problems


# --- hooks of the INT8 sensitivity search (invdn_mobile.export.sensitivity) ---
# LiteRT tensor names carry the PyTorch module classes but not reliably the ModuleList indices (litert-torch 0.10
# drops the scope of later calls), so TFLite layers are grouped by role: Haar convs and the F, G, H subnetworks.
TFLITE_GROUPS = {
    "haar": ["HaarDownsample"],
    "F": ["ResidualBlock_F"],
    "G": ["ResidualBlock_G"],
    "H": ["ResidualBlock_H"],
}


def fp32_model(denoiser: Denoiser, tile: int) -> bytes:
    return to_fp32(denoiser, tile)


def layer_groups(model: bytes) -> dict[str, list[str]]:
    names = layer_names(model)
    return {label: pats for label, pats in TFLITE_GROUPS.items() if any(p in n for n in names for p in pats)}


def quantize_int8(model: bytes, calibration, keep_float=(), precision="int8") -> bytes:
    return quantize(model, precision, calibration, tuple(keep_float))


def run_model(model: bytes, batch: np.ndarray, z: np.ndarray | None = None) -> np.ndarray:

    return LiteRTRunner(model, z).run(batch)
