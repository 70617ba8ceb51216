"""ExecuTorch backend: ``torch.export`` -> Edge dialect lowered to the XNNPACK delegate -> ``.pte`` program.

FP32: every op XNNPACK supports is delegated to it (the rest would run on ExecuTorch's portable kernels). INT8: PT2E
static quantization (``XNNPACKQuantizer``, symmetric per-channel int8 weights, int8 activations calibrated on noisy
photo crops), applied to the convolutions only, as ``onnx-int8`` does (the element-wise exp/sigmoid scale path stays
in float); the layers whose module path contains one of ``options.keep_float`` stay float (chosen by the INT8
sensitivity search, :mod:`invdn_mobile.export.sensitivity`).

:func:`inspect` reads the written program back: the instructions of its execution plan (delegate calls and portable
kernel calls), the XNNPACK subgraphs inside each delegate blob (decoded with the schema ExecuTorch ships), and counts
the convolution MACs from the shapes stored in those subgraphs.
"""

from __future__ import annotations

import copy
import functools
import json
import tempfile
from collections import Counter
from pathlib import Path

import numpy as np
import torch

from invdn_mobile.errors import InvdnError
from invdn_mobile.export.integer import prepared as with_rewrites
from invdn_mobile.export.registry import ExportOptions
from invdn_mobile.extras import need
from invdn_mobile.model import Denoiser
from invdn_mobile.quiet import quiet
from invdn_mobile.runtimes.executorch_rt import delegate_blob

XNNPACK_ID = "XnnpackBackend"
CONV_NODES = ("XNNConv2d", "XNNDepthwiseConv2d", "XNNConvTranspose2d")


def _require():
    need("executorch.exir", silent=True)
    need("executorch.backends.xnnpack.partition.xnnpack_partitioner", silent=True)


def example(denoiser: Denoiser, tile: int) -> tuple[torch.Tensor, ...]:
    x = torch.rand(1, 3, tile, tile)
    return (x, denoiser.z_for(tile, tile)) if denoiser.z_input else (x,)


def _feeds(calibration: list[dict], z_input: bool) -> list[tuple[torch.Tensor, ...]]:
    return [tuple(torch.from_numpy(f[k]) for k in (("image", "z") if z_input else ("image",))) for f in calibration]


def _module_paths(node) -> list[str]:
    """The qualified names of the modules a graph node was traced inside (outermost first), then the module that
    owns the weight it reads (a method such as the Haar transform's inverse, called outside ``forward``, leaves no
    trace of its module in the stack)."""
    stack = node.meta.get("nn_module_stack") or {}
    paths = [path for path, _ in stack.values() if path]
    weight = node.args[1] if len(node.args) > 1 else None
    if isinstance(weight, torch.fx.Node) and weight.op == "get_attr":
        paths.append(weight.target.rpartition(".")[0])
    return paths


def _keeps_float(node, keep_float) -> bool:
    return any(p and p in path for path in _module_paths(node) for p in keep_float)


def exported_module(denoiser: Denoiser, tile: int) -> torch.fx.GraphModule:
    """The denoiser as one ``torch.export`` graph module, every weight read by one op only: InvDN's couplings run
    each residual block twice (forward, then reverse), and a weight two convolutions share would get one
    quantization for both, which the XNNPACK lowering cannot build (a float convolution with a quantized bias)."""
    with quiet():
        module = torch.export.export(denoiser.eval(), example(denoiser, tile)).module()
    graph = module.graph
    for node in list(graph.nodes):
        if node.op != "get_attr" or len(node.users) < 2:
            continue
        value = _attr(module, node.target)
        if not isinstance(value, torch.Tensor):
            continue
        owner, _, attr = node.target.rpartition(".")
        for i, user in enumerate(list(node.users)[1:], start=1):  # a copy owned by the same module, for each use
            name = f"{attr}_use{i}"
            module.get_submodule(owner).register_buffer(name, value.detach().clone())
            name = f"{owner}.{name}" if owner else name
            with graph.inserting_after(node):
                copy = graph.get_attr(name)
            copy.meta = dict(node.meta)
            user.replace_input_with(node, copy)
    module.recompile()
    return module


def _attr(module: torch.nn.Module, target: str):
    return functools.reduce(getattr, target.split("."), module)


def quantized_module(
    denoiser: Denoiser, tile: int, calibration: list[dict], keep_float=(), graph: torch.fx.GraphModule | None = None
) -> torch.nn.Module:
    """The PT2E INT8 module (quantize/dequantize around every convolution not kept in float), calibrated on
    ``calibration`` feeds; ``graph``: the :func:`exported_module` of ``denoiser`` made before (copied, not changed).
    """
    from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import (
        XNNPACKQuantizer,
        get_symmetric_quantization_config,
    )
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    config = get_symmetric_quantization_config(is_per_channel=True)
    quantizer = XNNPACKQuantizer()
    for op in (torch.ops.aten.conv2d.default, torch.ops.aten.conv_transpose2d.input):
        quantizer.set_operator_type(op, config)
    keep = tuple(keep_float)
    if keep:
        quantizer.set_filter_function(lambda node: not _keeps_float(node, keep))
    graph = copy.deepcopy(graph) if graph is not None else exported_module(denoiser, tile)
    with quiet():
        prepared = prepare_pt2e(graph, quantizer)
        with torch.no_grad():
            for feed in _feeds(calibration, denoiser.z_input):
                prepared(*feed)
        return convert_pt2e(prepared)


def to_pte(module: torch.nn.Module, example: tuple[torch.Tensor, ...], partitioner=None) -> bytes:
    """Export ``module`` and lower it to ``partitioner``'s delegate (default XNNPACK); the serialized program."""
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir import to_edge_transform_and_lower

    with quiet(), torch.no_grad():
        program = torch.export.export(module, example)
        edge = to_edge_transform_and_lower(program, partitioner=[partitioner or XnnpackPartitioner()])
        return bytes(edge.to_executorch().buffer)


def export(denoiser: Denoiser, precision: str, tile: int, path: Path, calibration=None, options=None) -> None:
    """Write one ``.pte`` to ``path`` (the caller makes the write atomic)."""
    _require()
    options = options or ExportOptions()
    denoiser = with_rewrites(denoiser, options).eval()
    if precision == "fp32":
        module = denoiser
    elif precision == "int8":
        if not calibration:
            raise InvdnError("INT8 export needs calibration data")
        module = quantized_module(denoiser, tile, calibration, options.keep_float)
    else:
        raise InvdnError(f"executorch: no precision {precision!r}")
    Path(path).write_bytes(to_pte(module, example(denoiser, tile)))


# --- reading a program back ---


def xnnpack_graph(blob: bytes) -> dict:
    """The XNNPACK subgraph of one delegate blob (header, flatbuffer, constants) as JSON, decoded by ``flatc`` with
    the XNNPACK schema ExecuTorch ships."""
    import importlib.resources

    import executorch.backends.xnnpack.serialization as serialization
    from executorch.backends.xnnpack.serialization.xnnpack_graph_serialize import XNNHeader
    from executorch.exir._serialize._flatbuffer import _flatc_decompile

    header = XNNHeader.from_bytes(blob[: XNNHeader.EXPECTED_LENGTH])
    flatbuffer = blob[header.flatbuffer_offset : header.flatbuffer_offset + header.flatbuffer_size]
    with (
        tempfile.TemporaryDirectory() as tmp,
        importlib.resources.as_file(importlib.resources.files(serialization).joinpath("schema.fbs")) as schema,
    ):
        (Path(tmp) / "graph.bin").write_bytes(flatbuffer)
        _flatc_decompile(tmp, str(schema), str(Path(tmp) / "graph.bin"))
        return json.loads((Path(tmp) / "graph.json").read_text())


def _tensor(value: dict) -> tuple[dict, str]:
    """An XNNPACK value's plain tensor fields and its kind (``float32`` or the quantized type)."""
    body = value["xvalue_union"]
    while "tensor_value" in body:  # quantized values (e.g. XNNQuantizedTensorValue) wrap the tensor
        body = body["tensor_value"]
    return body, body["datatype"].removeprefix("xnn_datatype_")


def _xnnpack_macs(graph: dict) -> dict[str, int]:
    """Convolution MACs of one XNNPACK subgraph, keyed by the type of the activations each reads."""
    values = {}
    for value in graph["xvalues"]:
        tensor, kind = _tensor(value)
        values[tensor["id_out"]] = (tensor["dims"], kind)
    by_type: dict[str, int] = {}
    for node in graph["xnodes"]:
        kind = node["xnode_union_type"]
        if kind not in CONV_NODES:
            continue
        n = node["xnode_union"]
        kernel = n["kernel_height"] * n["kernel_width"]
        if kind == "XNNConvTranspose2d":  # per input element: kernel x output channels of its group
            dims, _ = values[n["input1_id"]]
            macs = int(np.prod(dims)) * kernel * n["group_output_channels"]
        else:  # per output element: kernel x input channels of its group
            dims, _ = values[n["output_id"]]
            macs = int(np.prod(dims)) * kernel * n["group_input_channels"]
        reads = values[n["input1_id"]][1]
        reads = {"fp32": "float32", "qint8": "int8", "qdint8": "int8"}.get(reads, reads)
        by_type[reads] = by_type.get(reads, 0) + macs
    return by_type


def _portable_conv_macs(plan, call) -> int:
    """MACs of a portable ``aten::convolution`` kernel call (args: input, weight, bias, stride, padding, dilation,
    transposed, output_padding, groups, out)."""
    tensor = lambda i: plan.values[call.args[i]].val  # noqa: E731
    weight = tensor(1).sizes
    transposed = bool(tensor(6).bool_val)
    per = int(np.prod(weight[1:]))
    return int(np.prod(tensor(0).sizes if transposed else tensor(9).sizes)) * per


def read_program(path: Path) -> dict:
    """What a ``.pte`` holds: the ops of its XNNPACK subgraphs and its portable kernel calls, the highest tensor rank
    and the convolution MACs (by activation type)."""
    _require()
    from executorch.exir._serialize._program import deserialize_pte_binary
    from executorch.exir.schema import DelegateCall, KernelCall

    with quiet():
        program = deserialize_pte_binary(Path(path).read_bytes()).program
    delegated: Counter = Counter()
    portable: Counter = Counter()
    other_delegates: Counter = Counter()
    by_type: dict[str, int] = {}
    ranks = [0]
    for plan in program.execution_plan:
        ranks += [len(v.val.sizes) for v in plan.values if hasattr(v.val, "sizes")]
        for chain in plan.chains:
            for instruction in chain.instructions:
                call = instruction.instr_args
                if isinstance(call, KernelCall):
                    op = plan.operators[call.op_index]
                    name = f"{op.name}.{op.overload}" if op.overload else op.name
                    portable[name] += 1
                    if op.name == "aten::convolution":
                        by_type["float32"] = by_type.get("float32", 0) + _portable_conv_macs(plan, call)
                elif isinstance(call, DelegateCall):
                    delegate = plan.delegates[call.delegate_index]
                    if delegate.id != XNNPACK_ID:
                        other_delegates[delegate.id] += 1
                        continue
                    graph = xnnpack_graph(delegate_blob(program, delegate))
                    delegated.update(n["xnode_union_type"].removeprefix("XNN") for n in graph["xnodes"])
                    ranks += [_tensor(v)[0]["num_dims"] for v in graph["xvalues"]]
                    for kind, macs in _xnnpack_macs(graph).items():
                        by_type[kind] = by_type.get(kind, 0) + macs
    return {
        "delegated": {"xnnpack": dict(sorted(delegated.items()))}
        | {k: {"calls": v} for k, v in other_delegates.items()},
        "portable": dict(sorted(portable.items())),
        "max_rank": max(ranks),
        "macs_by_input_type": dict(sorted(by_type.items())),
    }


def inspect(path: Path) -> dict:
    """Ops (``xnnpack:<node>`` for the delegated ones, ``portable:<kernel>`` for the rest), their split by where they
    run, the highest tensor rank and the convolution MACs of a ``.pte``."""
    report = read_program(path)
    ops = {f"xnnpack:{k}": v for k, v in report["delegated"].get("xnnpack", {}).items()}
    ops |= {f"portable:{k}": v for k, v in report["portable"].items()}
    return {
        "ops": ops,
        "delegation": {"delegated": report["delegated"], "portable": report["portable"]},
        "max_rank": report["max_rank"],
        "macs": sum(report["macs_by_input_type"].values()),
        "macs_by_input_type": report["macs_by_input_type"],
    }


def validate(path: Path, entry: dict) -> list[str]:
    """Structural check: the program is lowered to XNNPACK (no portable convolution)."""
    report = read_program(path)
    problems = []
    if not report["delegated"].get("xnnpack"):
        problems.append("no op delegated to XNNPACK")
    slow = [k for k in report["portable"] if k.startswith("aten::convolution")]
    if slow:
        problems.append(f"convolutions on portable kernels: {', '.join(slow)}")
    return problems


# --- hooks of the INT8 sensitivity search (invdn_mobile.export.sensitivity) ---
# The search quantizes exactly as the export does (PT2E with the listed convolutions left out) and runs the PT2E
# module in PyTorch (its quantize/dequantize pairs computed in float), without lowering each candidate; the exported
# program is then executed on XNNPACK and gated as always.


class Candidate:
    """The denoiser at the search tile and its export graph (made once, copied for every candidate list)."""

    def __init__(self, denoiser: Denoiser, tile: int) -> None:
        self.denoiser, self.tile = denoiser.eval(), tile
        self.graph = exported_module(self.denoiser, tile)


def fp32_model(denoiser: Denoiser, tile: int) -> Candidate:
    return Candidate(denoiser, tile)


def layer_groups(model: Candidate) -> dict[str, list[str]]:
    """Convolutions grouped by module (a residual block F/G/H of one coupling, or the Haar transform of a scale):
    label -> the ``keep_float`` patterns that keep the group in float."""
    groups: dict[str, list[str]] = {}
    for node in model.graph.graph.nodes:
        if node.op != "call_function" or "conv" not in str(node.target):
            continue
        layer = _module_paths(node)[-1]  # the module owning its weight
        head, _, last = layer.rpartition(".")
        label = head if head and last.startswith("conv") else layer
        groups.setdefault(label, [label])
    return groups


def quantize_int8(model: Candidate, calibration, keep_float=(), precision="int8") -> torch.nn.Module:
    return quantized_module(model.denoiser, model.tile, calibration, keep_float, model.graph)


def run_model(model, batch: np.ndarray, z: np.ndarray | None = None) -> np.ndarray:
    module = model.denoiser if isinstance(model, Candidate) else model
    outs = []
    with torch.no_grad():
        for item in batch:
            args = (torch.from_numpy(item[None]),) + (() if z is None else (torch.from_numpy(z),))
            outs.append(module(*args)[0].numpy())
    return np.stack(outs)
