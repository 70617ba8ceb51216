"""ONNX backend: FP32 (opset 18, checked, simplified), FP16 (float16 weights and compute, float32 I/O), INT8 (static
QDQ, per-channel weights, calibrated on real noisy crops; only Conv/ConvTranspose are quantized: the element-wise
sigmoid/exp scale path stays in float, see ``INT8_OP_TYPES``)."""

from __future__ import annotations

import contextlib
import io
import logging
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch

from invdn_mobile.errors import InvdnError, missing_extra
from invdn_mobile.model import Denoiser

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
    logging.getLogger("torch.onnx").setLevel(logging.ERROR)  # the exporter logs torchvision absence as warnings
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        path = Path(tmp) / "model.onnx"
        sink = io.StringIO()
        with contextlib.redirect_stdout(sink):
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
    return float16.convert_float_to_float16(model, keep_io_types=True)


def to_int8(model, calibration: list[dict[str, np.ndarray]], op_types=INT8_OP_TYPES, exclude=()):
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    onnx = _require()

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.items = iter(calibration)

        def get_next(self):
            return next(self.items, None)

    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp) / "fp32.onnx", Path(tmp) / "int8.onnx"
        onnx.save(model, str(src))
        quantize_static(
            str(src),
            str(dst),
            Reader(),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QInt8,
            weight_type=QuantType.QInt8,
            op_types_to_quantize=list(op_types),
            nodes_to_exclude=list(exclude),
        )
        return onnx.load(str(dst))


def export(denoiser: Denoiser, precision: str, tile: int, path: Path, calibration=None) -> None:
    """Write one ONNX artifact to ``path`` (the caller makes the write atomic)."""
    onnx = _require()
    model = to_onnx_fp32(denoiser, tile)
    if precision == "fp16":
        model = to_fp16(model)
    elif precision == "int8":
        if not calibration:
            raise InvdnError("INT8 export needs calibration data")
        model = to_int8(model, calibration)
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


def op_counts(path: Path) -> dict[str, int]:
    onnx = _require()
    counts: dict[str, int] = {}
    for node in onnx.load(str(path)).graph.node:
        counts[node.op_type] = counts.get(node.op_type, 0) + 1
    return dict(sorted(counts.items()))
