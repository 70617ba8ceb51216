"""ONNX backend: FP32 (opset 18, checked, simplified), FP16 (float16 weights and compute, float32 I/O), INT8 (static
QDQ, per-channel weights, calibrated on real noisy crops; only Conv/ConvTranspose are quantized: the element-wise
sigmoid/exp scale path stays in float, see ``INT8_OP_TYPES``)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import torch

from invdn_mobile.errors import InvdnError
from invdn_mobile.export.integer import onnx_float_ops, onnx_hidden_tensors, prepared
from invdn_mobile.export.registry import ExportOptions
from invdn_mobile.extras import have, need
from invdn_mobile.model import Denoiser
from invdn_mobile.quiet import quiet
from invdn_mobile.runtimes.onnxrt import OrtRunner

OPSET = 18
INPUT, Z_INPUT, OUTPUT = "image", "z", "denoised"
# Measured on a trained compact model (shared/DESIGN.md): quantizing every op cost 0.88 dB, Conv only 0.16 dB.
INT8_OP_TYPES = ("Conv", "ConvTranspose")


def _require():
    need("onnxruntime")
    return need("onnx")


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
    if have("onnxslim"):
        model = need("onnxslim").slim(model)
    onnx.checker.check_model(model, full_check=True)
    return model


def to_fp16(model):
    float16 = need("onnxconverter_common.float16")
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
    model,
    calibration: list[dict[str, np.ndarray]],
    op_types=INT8_OP_TYPES,
    exclude=(),
    extra=None,
    reduce_range=False,
    activation_bits: int = 8,
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
            activation_type=QuantType.QUInt16 if activation_bits == 16 else QuantType.QInt8,
            weight_type=QuantType.QInt8,
            op_types_to_quantize=list(op_types),
            nodes_to_exclude=list(exclude),
            extra_options=extra or {},
        )
        return onnx.load(str(dst))


def to_int8_full(
    model,
    calibration: list[dict[str, np.ndarray]],
    reduce_range: bool = False,
    activation_bits: int = 8,
    state_bits: int | None = None,
):
    """Every op of the graph in QDQ (Conv, ConvTranspose, LeakyRelu, Sigmoid, Tanh, Exp, Mul, Add, Sub, Neg,
    Concat, Slice), the image input and output pinned to [0, 1] (an 8-bit pixel is exact; the output is clipped as
    every caller clips it). ``reduce_range``: 7-bit weights; ONNX Runtime's x86 int8 convolution without VNNI sums
    pairs of u8 x s8 products in int16 (VPMADDUBSW), which saturates with full-range weights (docs/int8.md).
    ``activation_bits = 16``: uint16 activations with int8 weights (a16w8, what Qualcomm's HTP runs through ONNX
    Runtime's QNN execution provider), written as com.microsoft Q/DQ nodes (opset 18 has no 16-bit QuantizeLinear);
    ONNX Runtime's CPU provider computes them as dequantize -> float op -> quantize, which is exactly what the
    integer kernels compute up to their rounding. ``state_bits = 16`` (mixed precision): the residual blocks' hidden
    path (:func:`~invdn_mobile.export.integer.onnx_hidden_tensors`) at ``activation_bits``, every other tensor at 16
    bits, with the type conversions ONNX Runtime's mixed-precision helper inserts where they meet (its rules keep
    ``conv1``, which reads the state, at 16 bits: an op's input and output share a type)."""
    ops = sorted({n.op_type for n in model.graph.node})
    pinned = {"rmin": np.float32(0.0), "rmax": np.float32(1.0)}
    extra: dict = {}
    overrides: dict = {}
    if state_bits and state_bits != activation_bits:
        overrides = _mixed_overrides(model, activation_bits, state_bits)
    for name in (INPUT, OUTPUT):
        overrides.setdefault(name, [{}])[0].update(pinned)
    extra["TensorQuantOverrides"] = overrides
    if 16 in (activation_bits, state_bits):
        extra["UseQDQContribOps"] = True
    return to_int8(
        model, calibration, op_types=ops, extra=extra, reduce_range=reduce_range, activation_bits=activation_bits
    )


def _mixed_overrides(model, activation_bits: int, state_bits: int) -> dict:
    """Tensor overrides that put every tensor off the hidden path at ``state_bits``, fixed up (conversions where
    the two precisions meet) by ONNX Runtime's mixed-precision helper."""
    from onnxruntime.quantization import QuantType
    from onnxruntime.quantization.execution_providers.qnn.mixed_precision_overrides_utils import (
        MixedPrecisionTensorQuantOverridesFixer,
    )
    from onnxruntime.quantization.tensor_quant_overrides import TensorQuantOverridesHelper

    types = {8: QuantType.QInt8, 16: QuantType.QUInt16}
    hidden = onnx_hidden_tensors(model)
    inits = {i.name for i in model.graph.initializer}
    state = [
        o for n in model.graph.node for o in n.output if o not in hidden and o not in inits and n.op_type != "Constant"
    ]
    helper = TensorQuantOverridesHelper({t: [{"quant_type": types[state_bits]}] for t in state if t != OUTPUT})
    fixer = MixedPrecisionTensorQuantOverridesFixer.create_from_model(helper, model, types[activation_bits])
    fixer.apply(types[activation_bits], False)
    return helper.get_dict()


def export(denoiser: Denoiser, precision: str, tile: int, path: Path, calibration=None, options=None) -> None:
    """Write one ONNX artifact to ``path`` (the caller makes the write atomic). INT8 keeps the layers whose module
    path contains one of ``options.keep_float`` in float."""
    onnx = _require()
    options = options or ExportOptions()
    full = precision == "int8" and options.full_integer
    model = to_onnx_fp32(prepared(denoiser, options), tile)
    if precision == "fp16":
        model = to_fp16(model)
    elif precision == "int8":
        if not calibration:
            raise InvdnError("INT8 export needs calibration data")
        reduce_range = options.reduce_range
        if full:
            model = to_int8_full(model, calibration, reduce_range, options.activation_bits, options.state_bits)
            problems = onnx_float_ops(model)
            if problems:
                raise InvdnError(f"{Path(path).name}: not full-integer: {'; '.join(problems[:5])}")
        else:
            keep = options.keep_float
            exclude = nodes_matching(model, keep) if keep else ()
            model = to_int8(model, calibration, exclude=exclude, reduce_range=reduce_range)
    elif precision != "fp32":
        raise InvdnError(f"onnx: no precision {precision!r}")
    model.producer_name = "invdn-mobile"
    onnx.save(model, str(path))


def _with_shapes(model):
    """``model`` with inferred shapes; graphs holding com.microsoft ops (16-bit Q/DQ) go through ONNX Runtime's
    symbolic shape inference, which knows them (ONNX's own leaves their outputs shapeless)."""
    from onnx import shape_inference

    if any(n.domain == "com.microsoft" for n in model.graph.node):
        from onnxruntime.tools.symbolic_shape_infer import SymbolicShapeInference

        return SymbolicShapeInference.infer_shapes(model, auto_merge=True)
    return shape_inference.infer_shapes(model)


def graph_macs(path: Path) -> int:
    """MACs of the Conv/ConvTranspose nodes of an ONNX file, from its weights and inferred shapes."""
    onnx = _require()
    return sum(_macs_by_input_type(_with_shapes(onnx.load(str(path)))).values())


def _macs_by_input_type(model) -> dict[str, int]:
    """The Conv/ConvTranspose MACs of a shape-inferred ``model``, keyed by the type the activations each reads are
    quantized to (the zero point's type of the DequantizeLinear before it; ``float32`` when none)."""
    from onnx import numpy_helper

    shapes = {}
    for value in list(model.graph.value_info) + list(model.graph.input) + list(model.graph.output):
        dims = [d.dim_value for d in value.type.tensor_type.shape.dim]
        shapes[value.name] = dims
    arrays = {init.name: numpy_helper.to_array(init) for init in model.graph.initializer}
    # QDQ graphs feed weights through DequantizeLinear: follow it back to the initializer.
    producer = {out: node for node in model.graph.node for out in node.output}
    by_type: dict[str, int] = {}
    for node in model.graph.node:
        if node.op_type not in ("Conv", "ConvTranspose"):
            continue
        w_name = node.input[1]
        while w_name not in arrays and w_name in producer:
            w_name = producer[w_name].input[0]
        w = arrays[w_name].shape
        if node.op_type == "Conv":  # (out, in/groups, kh, kw), per output element
            n = int(np.prod(shapes[node.output[0]])) * int(np.prod(w[1:]))
        else:  # (in, out/groups, kh, kw), per input element
            n = int(np.prod(shapes[node.input[0]])) * int(np.prod(w[1:]))
        dq = producer.get(node.input[0])
        quantized = dq is not None and dq.op_type == "DequantizeLinear" and len(dq.input) > 2
        kind = arrays[dq.input[2]].dtype.name if quantized and dq.input[2] in arrays else "float32"
        by_type[kind] = by_type.get(kind, 0) + n
    return dict(sorted(by_type.items()))


def inspect(path: Path) -> dict:
    """Ops (type -> count), the highest tensor rank and the Conv/ConvTranspose MACs of an ONNX file (also split by
    the type of the activations each reads)."""
    onnx = _require()
    model = _with_shapes(onnx.load(str(path)))
    counts: dict[str, int] = {}
    for node in model.graph.node:
        counts[node.op_type] = counts.get(node.op_type, 0) + 1
    values = list(model.graph.value_info) + list(model.graph.input) + list(model.graph.output)
    ranks = [len(v.type.tensor_type.shape.dim) for v in values] + [len(i.dims) for i in model.graph.initializer]
    by_type = _macs_by_input_type(model)
    return {
        "ops": dict(sorted(counts.items())),
        "max_rank": max(ranks, default=0),
        "macs": sum(by_type.values()),
        "macs_by_input_type": by_type,
    }


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


def quantize_int8(model, calibration, keep_float=(), precision="int8"):
    return to_int8(model, calibration, exclude=nodes_matching(model, keep_float) if keep_float else ())


def run_model(model, batch: np.ndarray, z: np.ndarray | None = None) -> np.ndarray:

    return OrtRunner(model.SerializeToString(), z).run(batch)
