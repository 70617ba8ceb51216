"""ONNX backend: FP32 (opset 18, checked, simplified), FP16 (float16 weights and compute, float32 I/O), INT8 (static
QDQ, per-channel weights, calibrated on real noisy crops; only Conv/ConvTranspose are quantized: the element-wise
sigmoid/exp scale path stays in float, see ``INT8_OP_TYPES``)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import torch

from invdn_mobile.errors import InvdnError, missing_extra
from invdn_mobile.export.integer import onnx_float_ops, prepared
from invdn_mobile.model import Denoiser
from invdn_mobile.quiet import quiet
from invdn_mobile.runtimes.onnxrt import OrtRunner

OPSET = 18
INPUT, Z_INPUT, OUTPUT = "image", "z", "denoised"
# Measured on a trained compact model (shared/DESIGN.md): quantizing every op cost 0.88 dB, Conv only 0.16 dB.
INT8_OP_TYPES = ("Conv", "ConvTranspose")


def _require():
    try:
        import onnx
        import onnxruntime  # noqa: F401
    except ImportError:
        raise missing_extra("onnx/onnxruntime", "export-onnx") from None
    return onnx


def io_names(denoiser: Denoiser) -> tuple[list[str], list[str]]:
    return ([INPUT, Z_INPUT] if denoiser.z_input else [INPUT]), [OUTPUT]


def to_onnx_fp32(denoiser: Denoiser, tile: int):
    """Trace the denoiser at ``tile x tile`` (batch 1) into a checked, simplified ONNX model."""
    onnx = _require()
    x = torch.rand(1, 3, tile, tile)
    args = (x, denoiser.z_for(tile, tile)) if denoiser.z_input else (x,)
    inputs, outputs = io_names(denoiser)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.onnx"
        with quiet():
            torch.onnx.export(
                denoiser.eval(),
                args,
                str(path),
                dynamo=True,
                opset_version=OPSET,
                input_names=inputs,
                output_names=outputs,
                external_data=False,
            )
        model = onnx.load(str(path))
    try:
        import onnxslim

        model = onnxslim.slim(model)
    except ImportError:
        pass
    onnx.checker.check_model(model, full_check=True)
    return model


def to_fp16(model):
    try:
        from onnxconverter_common import float16
    except ImportError:
        raise missing_extra("onnxconverter-common", "export-onnx") from None
    with quiet():  # it warns once per weight it rounds
        return float16.convert_float_to_float16(model, keep_io_types=True)


def layer_of(node, initializers: set[str]) -> str:
    """The PyTorch module path of a Conv/ConvTranspose node (its weight initializer's name without ``.weight``)."""
    for name in node.input[1:2]:
        if name in initializers and name.endswith(".weight"):
            return name[: -len(".weight")]
    return node.name


def quantizable_layers(model) -> dict[str, str]:
    """Node name -> module path of every node INT8 quantizes."""
    inits = {i.name for i in model.graph.initializer}
    return {n.name: layer_of(n, inits) for n in model.graph.node if n.op_type in INT8_OP_TYPES}


def nodes_matching(model, patterns) -> list[str]:
    """Nodes whose module path contains any of ``patterns`` (e.g. ``scales.1.blocks.7.H``)."""
    return [node for node, layer in quantizable_layers(model).items() if any(p in layer for p in patterns)]


def to_int8(
    model, calibration: list[dict[str, np.ndarray]], op_types=INT8_OP_TYPES, exclude=(), extra=None, reduce_range=False
):
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    onnx = _require()

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.items = iter(calibration)

        def get_next(self):
            return next(self.items, None)

    with tempfile.TemporaryDirectory() as tmp, quiet():
        src, dst = Path(tmp) / "fp32.onnx", Path(tmp) / "int8.onnx"
        onnx.save(model, str(src))
        quantize_static(
            str(src),
            str(dst),
            Reader(),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            reduce_range=reduce_range,
            activation_type=QuantType.QInt8,
            weight_type=QuantType.QInt8,
            op_types_to_quantize=list(op_types),
            nodes_to_exclude=list(exclude),
            extra_options=extra or {},
        )
        return onnx.load(str(dst))


def to_int8_full(model, calibration: list[dict[str, np.ndarray]], reduce_range: bool = False):
    """Every op of the graph in QDQ (Conv, ConvTranspose, LeakyRelu, Sigmoid, Exp, Mul, Add, Sub, Neg, Concat,
    Slice), the image input and output pinned to [0, 1] (an 8-bit pixel is exact; the output is clipped as every
    caller clips it). ``reduce_range``: 7-bit weights; ONNX Runtime's x86 int8 convolution without VNNI sums pairs
    of u8 x s8 products in int16 (VPMADDUBSW), which saturates with full-range weights (docs/int8.md)."""
    ops = sorted({n.op_type for n in model.graph.node})
    pinned = [{"rmin": np.float32(0.0), "rmax": np.float32(1.0)}]
    overrides = {INPUT: pinned, OUTPUT: pinned}
    extra = {"TensorQuantOverrides": overrides}
    return to_int8(model, calibration, op_types=ops, extra=extra, reduce_range=reduce_range)


def export(denoiser: Denoiser, precision: str, tile: int, path: Path, calibration=None, options=None) -> None:
    """Write one ONNX artifact to ``path`` (the caller makes the write atomic). INT8 keeps the layers whose module
    path contains one of ``options['keep_float']`` in float."""
    onnx = _require()
    options = options or {}
    full = precision == "int8" and options.get("full_integer")
    model = to_onnx_fp32(prepared(denoiser, options) if full else denoiser, tile)
    if precision == "fp16":
        model = to_fp16(model)
    elif precision == "int8":
        if not calibration:
            raise InvdnError("INT8 export needs calibration data")
        reduce_range = bool(options.get("reduce_range"))
        if full:
            model = to_int8_full(model, calibration, reduce_range)
            problems = onnx_float_ops(model)
            if problems:
                raise InvdnError(f"{Path(path).name}: not full-integer: {'; '.join(problems[:5])}")
        else:
            keep = tuple(options.get("keep_float", ()))
            exclude = nodes_matching(model, keep) if keep else ()
            model = to_int8(model, calibration, exclude=exclude, reduce_range=reduce_range)
    elif precision != "fp32":
        raise InvdnError(f"onnx: no precision {precision!r}")
    model.producer_name = "invdn-mobile"
    onnx.save(model, str(path))


def graph_macs(path: Path) -> int:
    """MACs of the Conv/ConvTranspose nodes of an ONNX file, from its weights and inferred shapes."""
    onnx = _require()
    from onnx import numpy_helper, shape_inference

    model = shape_inference.infer_shapes(onnx.load(str(path)))
    shapes = {}
    for value in list(model.graph.value_info) + list(model.graph.input) + list(model.graph.output):
        dims = [d.dim_value for d in value.type.tensor_type.shape.dim]
        shapes[value.name] = dims
    weights = {init.name: numpy_helper.to_array(init).shape for init in model.graph.initializer}
    # QDQ graphs feed weights through DequantizeLinear: follow it back to the initializer.
    producer = {out: node for node in model.graph.node for out in node.output}
    total = 0
    for node in model.graph.node:
        if node.op_type not in ("Conv", "ConvTranspose"):
            continue
        w_name = node.input[1]
        while w_name not in weights and w_name in producer:
            w_name = producer[w_name].input[0]
        w = weights[w_name]
        if node.op_type == "Conv":  # (out, in/groups, kh, kw), per output element
            out_elems = int(np.prod(shapes[node.output[0]]))
            total += out_elems * int(np.prod(w[1:]))
        else:  # (in, out/groups, kh, kw), per input element
            in_elems = int(np.prod(shapes[node.input[0]]))
            total += in_elems * int(np.prod(w[1:]))
    return total


def inspect(path: Path) -> dict:
    """Ops (type -> count), the highest tensor rank and the Conv/ConvTranspose MACs of an ONNX file."""
    onnx = _require()
    from onnx import shape_inference

    model = shape_inference.infer_shapes(onnx.load(str(path)))
    counts: dict[str, int] = {}
    for node in model.graph.node:
        counts[node.op_type] = counts.get(node.op_type, 0) + 1
    values = list(model.graph.value_info) + list(model.graph.input) + list(model.graph.output)
    ranks = [len(v.type.tensor_type.shape.dim) for v in values] + [len(i.dims) for i in model.graph.initializer]
    return {"ops": dict(sorted(counts.items())), "max_rank": max(ranks, default=0), "macs": graph_macs(path)}


# --- hooks of the INT8 sensitivity search (invdn_mobile.export.sensitivity) ---


def fp32_model(denoiser: Denoiser, tile: int):
    return to_onnx_fp32(denoiser, tile)


def layer_groups(model) -> dict[str, list[str]]:
    """Quantizable layers grouped by module (a residual block F/G/H of one coupling, or the Haar conv of a scale):
    label -> the ``keep_float`` patterns that keep the group in float."""
    groups: dict[str, list[str]] = {}
    for layer in quantizable_layers(model).values():
        head, _, last = layer.rpartition(".")
        label = head if head and last.startswith("conv") else layer
        groups.setdefault(label, [label])
    return groups


def quantize_int8(model, calibration, keep_float=()):
    return to_int8(model, calibration, exclude=nodes_matching(model, keep_float) if keep_float else ())


def run_model(model, batch: np.ndarray, z: np.ndarray | None = None) -> np.ndarray:

    return OrtRunner(model.SerializeToString(), z).run(batch)
