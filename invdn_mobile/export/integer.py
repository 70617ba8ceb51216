"""Full-integer INT8: the graph surgery that makes every op of a quantized file integer, and the op-level check that
proves it (no float op between the first QUANTIZE and the last DEQUANTIZE; ``integer_ops.toml`` holds the data).

TFLite: ai-edge-quantizer 0.10 quantizes CONV_2D, TRANSPOSE_CONV, ADD, SUB, MUL, LOGISTIC, CONCATENATION and SLICE
but leaves EXP and LEAKY_RELU in float between a DEQUANTIZE and a QUANTIZE, although LiteRT's builtin kernels run
both on int8 (EXP through a 256-entry table, LEAKY_RELU with a requantizing multiplier). :func:`fold_float_islands`
rewires each such ``DEQUANTIZE -> op -> QUANTIZE`` island into the int8 op itself, with the input and output
quantization the calibration gave; :func:`integer_io` removes the input QUANTIZE and the output DEQUANTIZE so the
file takes and gives int8 (code = 8-bit pixel value - 128 when the image's range is pinned to [0, 1]).
The same holds with 16-bit activations (a16w8: LiteRT's kernels take int16 for all of these ops but SUB, whose
int16 kernel refuses our scales, so a16w8 recipes convert the couplings without subtraction first: ``sub_free``).

ONNX (QDQ): every compute op must read its activations from DequantizeLinear and write them only to QuantizeLinear
(what integer executors, e.g. NPU execution providers, turn into integer kernels).
"""

from __future__ import annotations

import copy
import tomllib
from collections import defaultdict
from pathlib import Path

from invdn_mobile.errors import InvdnError
from invdn_mobile.export.fakequant import qparams
from invdn_mobile.export.registry import ExportOptions
from invdn_mobile.extras import need
from invdn_mobile.model.coupling import sub_free
from invdn_mobile.model.equalize import equalize
from invdn_mobile.model.split import split_concats

OPS_FILE = Path(__file__).resolve().parent / "integer_ops.toml"
# Builtin op versions that take int8 tensors (LiteRT's op resolver refuses older versions for int8 inputs).
INT8_VERSIONS = {"EXP": 2, "LEAKY_RELU": 2}
INT8 = 9  # schema TensorType


def spec() -> dict:
    return tomllib.loads(OPS_FILE.read_text())


def prepared(denoiser, options: ExportOptions):
    """The denoiser a full-integer export converts: with ``options.equalize``, a copy whose residual blocks are
    cross-layer equalized (an exact float rescaling, :mod:`invdn_mobile.model.equalize`); with ``options.sub_free``
    its couplings rewritten without subtraction (exact, :func:`invdn_mobile.model.coupling.sub_free`); with
    ``options.split_concats`` its concatenations and Haar layers split by channel group (exact,
    :func:`invdn_mobile.model.split.split_concats`)."""
    if not (options.equalize or options.sub_free or options.split_concats):
        return denoiser
    denoiser = copy.deepcopy(denoiser)
    if options.equalize:
        equalize(denoiser.model)
    if options.sub_free:
        sub_free(denoiser.model)
    if options.split_concats:
        split_concats(denoiser.model)
    return denoiser.eval()


# --- TFLite ---


def _flatbuffers():
    return need("ai_edge_litert.tools.flatbuffer_utils")


def _op_names(fb, model) -> list[str]:
    return [fb.opcode_to_name(model, i) for i in range(len(model.operatorCodes))]


def _tflite_links(sg) -> tuple[dict[int, int], dict[int, list[int]]]:
    """Tensor -> index of the op that writes it, and tensor -> indices of the ops that read it (optional inputs,
    index -1, left out)."""
    producer = {out: k for k, op in enumerate(sg.operators) for out in op.outputs}
    consumers: dict[int, list[int]] = defaultdict(list)
    for k, op in enumerate(sg.operators):
        for t in op.inputs:
            if t >= 0:
                consumers[t].append(k)
    return producer, consumers


def fold_float_islands(
    data: bytes, ops: tuple[str, ...] | None = None, ranges: dict[str, tuple[float, float]] | None = None
) -> bytes:
    """Rewrite every ``DEQUANTIZE -> OP -> QUANTIZE`` (``OP`` in ``ops``, default the toml's ``tflite.fold``) so
    ``OP`` reads the integer tensor and writes the quantized one; the DEQUANTIZE and QUANTIZE go when nothing else uses
    their outputs. Where the island crosses widths (a 16-bit tensor in, an 8-bit one out: a mixed-precision recipe's
    16-bit convolution feeding the 8-bit hidden path), LiteRT's kernels want one width per op: a requantizing
    QUANTIZE goes first, to an 8-bit tensor with the asymmetric int8 parameters of the calibrated range of that
    tensor in ``ranges`` (tensor name -> (min, max)), and ``OP`` runs at 8 bits."""
    fb = _flatbuffers()
    ops = tuple(ops or spec()["tflite"]["fold"])
    model = fb.read_model_from_bytearray(bytearray(data))
    names = _op_names(fb, model)
    sg = model.subgraphs[0]
    producer, consumers = _tflite_links(sg)
    drop: set[int] = set()
    folded = set()
    before: dict[int, object] = {}  # op index -> a requantizing QUANTIZE to insert before it
    for k, op in enumerate(sg.operators):
        name = names[op.opcodeIndex]
        if name not in ops:
            continue
        src, out = op.inputs[0], op.outputs[0]
        dq = producer.get(src)
        qs = consumers.get(out, [])
        if dq is None or names[sg.operators[dq].opcodeIndex] != "DEQUANTIZE":
            continue
        if not qs or any(names[sg.operators[q].opcodeIndex] != "QUANTIZE" for q in qs) or out in sg.outputs:
            continue
        targets = {sg.operators[q].outputs[0] for q in qs}
        if len(qs) > 1:  # several QUANTIZEs of one float tensor: keep the island (never seen in our graphs)
            continue
        op.inputs[0] = sg.operators[dq].inputs[0]
        op.outputs[0] = targets.pop()
        wide, narrow = sg.tensors[op.inputs[0]], sg.tensors[op.outputs[0]]
        if wide.type != narrow.type:
            if narrow.type != INT8:
                raise InvdnError(f"full-integer export: cannot fold {name} from type {wide.type} to {narrow.type}")
            requant = copy.deepcopy(sg.operators[qs[0]])  # a QUANTIZE: wide tensor in, a new narrow one out
            requant.inputs = [op.inputs[0]]
            requant.outputs = [_narrowed(fb, model, op.inputs[0], ranges or {})]
            op.inputs[0] = requant.outputs[0]
            before[k] = requant
        drop.add(qs[0])
        if consumers[src] == [k]:
            drop.add(dq)
        folded.add(op.opcodeIndex)
    kept = [(k, op) for k, op in enumerate(sg.operators) if k not in drop]
    sg.operators = [o for k, op in kept for o in (before.get(k), op) if o is not None]
    for index in folded:
        code = model.operatorCodes[index]
        code.version = max(code.version, INT8_VERSIONS.get(names[index], code.version))
    return bytes(fb.convert_object_to_bytearray(model))


def _int8_quantization(fb, lo: float, hi: float):
    """Per-tensor asymmetric int8 parameters for ``[lo, hi]``, as the quantizer computes them."""
    scale, zero = qparams(lo, hi, 8)
    quantization = fb.QuantizationParametersT()
    quantization.scale, quantization.zeroPoint = [scale], [zero]
    return quantization


def _narrowed(fb, model, index: int, ranges: dict[str, tuple[float, float]]) -> int:
    """A new int8 activation tensor beside tensor ``index``: same shape, the asymmetric int8 parameters of the
    calibrated range ``ranges`` holds for it; its index."""
    sg = model.subgraphs[0]
    wide = sg.tensors[index]
    name = wide.name.decode() if isinstance(wide.name, bytes) else wide.name
    if name not in ranges:
        raise InvdnError(f"full-integer export: no calibrated range for {name!r} to requantize it")
    lo, hi = ranges[name]
    narrow = copy.deepcopy(wide)
    narrow.name = name + "~int8"
    narrow.type = INT8
    narrow.quantization = _int8_quantization(fb, lo, hi)
    narrow.quantization.min, narrow.quantization.max = [min(lo, 0.0)], [max(hi, 0.0)]
    narrow.buffer = len(model.buffers)
    model.buffers.append(fb.BufferT())
    sg.tensors.append(narrow)
    return len(sg.tensors) - 1


HIDDEN_MARK = "~hidden"  # appended to the names of the residual blocks' hidden-path tensors by mark_hidden


def mark_hidden(data: bytes) -> bytes:
    """The FP32 flatbuffer with the output tensor of every op on a residual block's hidden path renamed with
    ``HIDDEN_MARK`` (a quantization recipe matches it): each LEAKY_RELU and each CONV_2D that reads one (``conv2``
    and ``conv3r`` of the split blocks). These carry most of the MACs; what stays unmarked is the coupling state (the
    Haar layers, ``conv3x``, ADD, MUL, EXP, TANH) and ``conv1``, which reads it: mixed-precision recipes keep those
    at 16 bits, and ``conv1``'s output is requantized to 8 bits before its LEAKY_RELU (:func:`fold_float_islands`).
    Reading the state at 8 bits instead adds two thirds again to the mixed recipe's loss (docs/int8.md, finding 6)."""
    fb = _flatbuffers()
    model = fb.read_model_from_bytearray(bytearray(data))
    names = _op_names(fb, model)
    sg = model.subgraphs[0]
    kind = [names[op.opcodeIndex] for op in sg.operators]
    producer, _ = _tflite_links(sg)
    for k, op in enumerate(sg.operators):
        if kind[k] == "CONV_2D":
            if not (op.inputs[0] in producer and kind[producer[op.inputs[0]]] == "LEAKY_RELU"):
                continue
        elif kind[k] != "LEAKY_RELU":
            continue
        tensor = sg.tensors[op.outputs[0]]
        name = tensor.name.decode() if isinstance(tensor.name, bytes) else tensor.name
        tensor.name = name + HIDDEN_MARK
    return bytes(fb.convert_object_to_bytearray(model))


def integer_io(data: bytes, image_range: tuple[float, float]) -> bytes:
    """The same file with int8 input and output: the input's QUANTIZE and the output's DEQUANTIZE removed where they
    convert to and from int8; where the graph computes at 16 bits at its ends (the mixed recipes), they stay as
    requantizing QUANTIZEs (int8 -> int16 in, int16 -> int8 out) on int8 I/O tensors with the asymmetric int8
    parameters of ``image_range`` (code = 8-bit pixel value - 128 for [0, 1])."""
    fb = _flatbuffers()
    model = fb.read_model_from_bytearray(bytearray(data))
    names = _op_names(fb, model)
    sg = model.subgraphs[0]
    remap: dict[int, int] = {}
    drop = set()
    kept = 0  # conversions kept as requantizations (16-bit ends)
    quantize = next((op for op in sg.operators if names[op.opcodeIndex] == "QUANTIZE"), None)

    def to_int8(index: int) -> None:
        sg.tensors[index].type = INT8
        sg.tensors[index].quantization = _int8_quantization(fb, *image_range)

    for k, op in enumerate(sg.operators):
        name = names[op.opcodeIndex]
        if name == "QUANTIZE" and op.inputs[0] in sg.inputs:
            if any(o is not op and op.inputs[0] in o.inputs for o in sg.operators):
                continue
            if sg.tensors[op.outputs[0]].type == INT8:
                remap[op.inputs[0]] = op.outputs[0]
                drop.add(k)
            else:  # requantize the int8 image to the graph's 16 bits
                to_int8(op.inputs[0])
                kept += 1
        elif name == "DEQUANTIZE" and op.outputs[0] in sg.outputs:
            if sg.tensors[op.inputs[0]].type == INT8:
                remap[op.outputs[0]] = op.inputs[0]
                drop.add(k)
            else:  # the 16-bit result requantized to an int8 image
                op.opcodeIndex = quantize.opcodeIndex
                op.builtinOptionsType = quantize.builtinOptionsType
                op.builtinOptions = copy.deepcopy(quantize.builtinOptions)
                to_int8(op.outputs[0])
                kept += 1
    if not (drop or kept) or quantize is None:
        raise InvdnError("integer I/O: the file has no input QUANTIZE or output DEQUANTIZE to convert")
    sg.operators = [op for k, op in enumerate(sg.operators) if k not in drop]
    sg.inputs = [remap.get(t, t) for t in sg.inputs]
    sg.outputs = [remap.get(t, t) for t in sg.outputs]
    for sig in model.signatureDefs or []:
        for tm in list(sig.inputs or []) + list(sig.outputs or []):
            tm.tensorIndex = remap.get(tm.tensorIndex, tm.tensorIndex)
    for old, new in remap.items():  # keep the signature's tensor names on the tensors that now carry them
        sg.tensors[new].name = sg.tensors[old].name
    return bytes(fb.convert_object_to_bytearray(model))


def tflite_float_ops(data: bytes) -> list[str]:
    """Ops of a ``.tflite`` that compute in float, or that are not on the toml's ``tflite.ops`` list; empty: the file
    is integer. The float I/O boundary is allowed: a QUANTIZE that reads a graph input (the image, or z in a ``-zin``
    twin) and a DEQUANTIZE that writes a graph output."""
    fb = _flatbuffers()
    model = fb.read_model_from_bytearray(bytearray(data))
    names = _op_names(fb, model)
    sg = model.subgraphs[0]
    allowed = set(spec()["tflite"]["ops"])
    float_types = {0, 1, 10, 16}  # FLOAT32, FLOAT16, FLOAT64, BFLOAT16 (schema TensorType)
    graph_in, graph_out = set(sg.inputs), set(sg.outputs)
    problems = []
    for k, op in enumerate(sg.operators):
        name = names[op.opcodeIndex]
        boundary = (name == "QUANTIZE" and set(op.inputs) <= graph_in) or (
            name == "DEQUANTIZE" and set(op.outputs) <= graph_out
        )
        if boundary:
            continue
        tensors = [t for t in list(op.inputs) + list(op.outputs) if t >= 0]
        floats = [sg.tensors[t] for t in tensors if sg.tensors[t].type in float_types]
        if floats or name not in allowed:
            why = "float tensors" if floats else "not on the integer op list"
            problems.append(f"op {k} {name} ({why})")
    return problems


# --- ONNX (QDQ) ---


def _onnx_links(graph) -> tuple[dict, dict[str, list]]:
    """Tensor name -> the node that writes it, and tensor name -> the nodes that read it."""
    producer = {o: n for n in graph.node for o in n.output}
    consumers: dict[str, list] = defaultdict(list)
    for n in graph.node:
        for i in n.input:
            consumers[i].append(n)
    return producer, consumers


def onnx_float_ops(model) -> list[str]:
    """Compute nodes of a QDQ ONNX model whose activation inputs do not all come from DequantizeLinear or whose
    outputs do not all go to QuantizeLinear (they would run in float), or that are not on the toml's ``onnx.ops``."""
    allowed = set(spec()["onnx"]["ops"])
    graph = model.graph
    inits = {i.name for i in graph.initializer}
    producer, consumers = _onnx_links(graph)
    qdq = {"QuantizeLinear", "DequantizeLinear"}
    problems = []
    for n in graph.node:
        if n.op_type in qdq:
            continue
        if n.op_type not in allowed:
            problems.append(f"{n.name or n.op_type} {n.op_type} (not on the integer op list)")
            continue
        data_inputs = [i for i in n.input[: _data_inputs(n.op_type, len(n.input))] if i and i not in inits]
        bad_in = [i for i in data_inputs if i not in producer or producer[i].op_type != "DequantizeLinear"]
        bad_out = [o for o in n.output if not consumers[o] or any(c.op_type != "QuantizeLinear" for c in consumers[o])]
        if bad_in or bad_out:
            what = ", ".join(
                ([f"float input {bad_in[0]}"] if bad_in else []) + ([f"float output {bad_out[0]}"] if bad_out else [])
            )
            problems.append(f"{n.name or n.op_type} {n.op_type} ({what})")
    return problems


def onnx_hidden_tensors(model) -> set[str]:
    """The ONNX twin of :func:`mark_hidden`: names of the tensors on the residual blocks' hidden path (each LeakyRelu
    output, and the output of each Conv that feeds a LeakyRelu or reads one)."""
    graph = model.graph
    producer, consumers = _onnx_links(graph)
    hidden = set()
    for n in graph.node:
        out = n.output[0]
        if n.op_type == "LeakyRelu":
            hidden.add(out)
        elif n.op_type == "Conv":
            feeds = any(c.op_type == "LeakyRelu" for c in consumers[out])
            src = producer.get(n.input[0])
            if feeds or (src is not None and src.op_type == "LeakyRelu"):
                hidden.add(out)
    return hidden


def _data_inputs(op_type: str, count: int) -> int:
    """How many leading inputs of a node carry data (Slice's starts/ends/axes and the like are int64 constants)."""
    return 1 if op_type in ("Slice", "Reshape", "Resize", "Pad") else count
