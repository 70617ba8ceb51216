"""``coreml-mil-reference``: a reference evaluator of a Core ML ML Program, so ``.mlpackage`` artifacts are executed on
any OS (Core ML itself runs only on Apple devices).

The package's program is read with coremltools' MIL-proto loader (weights from the package's weight file) and run op
by op with PyTorch on the CPU, in the program's own precision:

- every tensor is stored in its MIL dtype: an ``fp16`` tensor holds IEEE half values, and each op's result is rounded
  once to its output dtype from a float32 computation (``cast`` ops round where the program casts). Convolutions
  therefore accumulate in float32 and round their output to float16 — what a device that accumulates in FP16 does
  can differ; this evaluator is exact about FP16 storage between ops, not about a device's accumulator;
- weights of ``constexpr_*`` ops are dequantized as the op says (``scale * (data - zero_point)``, computed in float32,
  which is exact for int8 × fp16, then rounded to the output dtype);
- image inputs are 8-bit pixels (a ``CVPixelBuffer``): the runner rounds [0, 1] values to 0..255, and the program
  applies the ``ImageType`` scale/bias itself (coremltools writes them as ops of the program). An image output is
  returned as the program's float tensor / 255: the conversion to an 8-bit pixel buffer (clamping and rounding by
  Core ML) is not emulated.

Any op type outside :data:`OPS` fails loudly, naming it. A value that turns Inf or NaN in an op whose inputs were all
finite (an FP16 overflow of ``exp``, say) is recorded and reported by :meth:`MilRunner.problems`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from invdn_mobile.errors import InvdnError
from invdn_mobile.extras import need
from invdn_mobile.runtimes import manifest_z

EVALUATOR = "coreml-mil-reference"
_TORCH = {"fp16": torch.float16, "fp32": torch.float32, "int32": torch.int32, "bool": torch.bool}


def _coremltools():
    ct = need("coremltools", silent=True)
    load = need("coremltools.converters.mil.frontend.milproto.load", silent=True).load
    return ct, load, need("coremltools.converters.mil.mil", silent=True).types


def _round(x: torch.Tensor, dtype: str) -> torch.Tensor:
    """``x`` (float32) rounded to ``dtype`` and held as float32 (fp16 values are exact in float32)."""
    if dtype == "fp16":
        return x.to(torch.float16).to(torch.float32)
    if dtype == "fp32":
        return x.to(torch.float32)
    raise InvdnError(f"{EVALUATOR}: tensors of dtype {dtype} are not supported")


def _pads(pad_type: str, pad, kernel, strides, dilations, size) -> list[int]:
    """[before_h, after_h, before_w, after_w] of a conv (MIL's ``pad_type`` rules)."""
    if pad_type == "valid":
        return [0, 0, 0, 0]
    if pad_type == "custom":
        return [int(p) for p in pad]
    if pad_type in ("same", "same_lower"):
        out = []
        for k, s, d, n in zip(kernel, strides, dilations, size):
            total = max((-(-n // s) - 1) * s + (k - 1) * d + 1 - n, 0)
            small, big = total // 2, total - total // 2
            out += [big, small] if pad_type == "same_lower" else [small, big]
        return out
    raise InvdnError(f"{EVALUATOR}: conv pad_type {pad_type!r} is not supported")


def _conv(a):
    x, w = a["x"], a["weight"]
    strides = [int(s) for s in a.get("strides", [1, 1])]
    dilations = [int(d) for d in a.get("dilations", [1, 1])]
    if x.dim() != 4:
        raise InvdnError(f"{EVALUATOR}: only 2-D conv is supported (input of rank {x.dim()})")
    top, bottom, left, right = _pads(
        a.get("pad_type", "valid"), a.get("pad"), w.shape[2:], strides, dilations, x.shape[2:]
    )
    padding = [top, left]
    if (top, left) != (bottom, right):  # asymmetric: pad explicitly
        x, padding = F.pad(x, (left, right, top, bottom)), [0, 0]
    return F.conv2d(x, w, a.get("bias"), strides, padding, dilations, int(a.get("groups", 1)))


def _conv_transpose(a):
    x, w = a["x"], a["weight"]
    strides = [int(s) for s in a.get("strides", [1, 1])]
    dilations = [int(d) for d in a.get("dilations", [1, 1])]
    groups = int(a.get("groups", 1))
    if x.dim() != 4:
        raise InvdnError(f"{EVALUATOR}: only 2-D conv_transpose is supported (input of rank {x.dim()})")
    full = F.conv_transpose2d(x, w, None, strides, 0, 0, groups, dilations)  # every output the kernel reaches
    size = full.shape[2:]
    pad_type = a.get("pad_type", "valid")
    if "output_shape" in a:
        want = [int(v) for v in a["output_shape"]][2:]
    elif pad_type == "same":
        want = [n * s for n, s in zip(x.shape[2:], strides)]
    elif pad_type == "custom":
        pad = [int(p) for p in a["pad"]]
        want = [size[0] - pad[0] - pad[1], size[1] - pad[2] - pad[3]]
    else:
        want = list(size)
    if pad_type == "custom":
        starts = [int(a["pad"][0]), int(a["pad"][2])]
    else:  # valid: from the start; same: the crop split as conv's "same" padding (more after)
        starts = [(n - m) // 2 if pad_type == "same" else 0 for n, m in zip(size, want)]
    if any(s < 0 or s + m > n for s, m, n in zip(starts, want, size)):
        raise InvdnError(f"{EVALUATOR}: conv_transpose output shape {want} is not within its {list(size)} outputs")
    out = full[:, :, starts[0] : starts[0] + want[0], starts[1] : starts[1] + want[1]]
    if "bias" in a:
        out = out + a["bias"].reshape(1, -1, 1, 1)
    return out


def _slice_by_index(a):
    x = a["x"]
    n = x.dim()
    begin, end = [int(v) for v in a["begin"]], [int(v) for v in a["end"]]
    stride = [int(v) for v in a.get("stride", [1] * n)]
    begin_mask = [bool(v) for v in a.get("begin_mask", [False] * n)]
    end_mask = [bool(v) for v in a.get("end_mask", [False] * n)]
    squeeze = [bool(v) for v in a.get("squeeze_mask", [False] * n)]
    index = []
    for i in range(n):
        if squeeze[i]:
            index.append(begin[i])
            continue
        if stride[i] < 0:
            raise InvdnError(f"{EVALUATOR}: slice_by_index with a negative stride is not supported")
        index.append(slice(None if begin_mask[i] else begin[i], None if end_mask[i] else end[i], stride[i]))
    return x[tuple(index)]


def _concat(a):
    if a.get("interleave", False):
        raise InvdnError(f"{EVALUATOR}: concat with interleave is not supported")
    return torch.cat(list(a["values"]), dim=int(a["axis"]))


def _dequantize(data, scale, offset, axis=None):
    """``scale * (data - offset)`` in float32; vectors broadcast along ``axis`` (affine) or, when ``scale`` has the
    data's rank, block-wise (each scale entry covers ``data.shape / scale.shape`` elements)."""
    data = data.to(torch.float32)
    scale, offset = scale.to(torch.float32), offset.to(torch.float32)

    def spread(p):
        if p.dim() == 0:
            return p
        if axis is not None:
            shape = [1] * data.dim()
            shape[int(axis)] = -1
            return p.reshape(shape)
        for dim, (n, m) in enumerate(zip(data.shape, p.shape)):
            p = p.repeat_interleave(n // m, dim=dim)
        return p

    return spread(scale) * (data - spread(offset))


# op type -> f(arguments) computing in float32 (tensor arguments are float32 holding values of their MIL dtype)
OPS = {
    "conv": _conv,
    "conv_transpose": _conv_transpose,
    "add": lambda a: a["x"] + a["y"],
    "sub": lambda a: a["x"] - a["y"],
    "mul": lambda a: a["x"] * a["y"],
    "exp": lambda a: torch.exp(a["x"]),
    "sigmoid": lambda a: torch.sigmoid(a["x"]),
    "leaky_relu": lambda a: torch.where(a["x"] >= 0, a["x"], a["x"] * a["alpha"]),
    "clip": lambda a: torch.minimum(torch.maximum(a["x"], a["alpha"]), a["beta"]),
    "concat": _concat,
    "slice_by_index": _slice_by_index,
    "cast": lambda a: a["x"],  # the rounding to the output dtype is the cast
    "constexpr_affine_dequantize": lambda a: _dequantize(a["quantized_data"], a["scale"], a["zero_point"], a["axis"]),
    "constexpr_blockwise_shift_scale": lambda a: _dequantize(a["data"], a["scale"], a.get("offset", torch.zeros(()))),
}
# arguments that are settings (strings, shapes, flags) rather than tensors
_SETTINGS = {
    "pad_type",
    "dtype",
    "strides",
    "pad",
    "dilations",
    "groups",
    "output_shape",
    "begin",
    "end",
    "stride",
    "begin_mask",
    "end_mask",
    "squeeze_mask",
    "axis",
    "interleave",
}


class MilProgram:
    """The ``main`` function of an ``.mlpackage``'s ML Program, ready to evaluate: constants materialised once, every
    op checked against :data:`OPS` before anything runs."""

    def __init__(self, path: Path) -> None:
        ct, load, types = _coremltools()
        path = Path(path)
        if not (path / "Manifest.json").is_file():
            raise InvdnError(f"{path}: not an .mlpackage (no Manifest.json)")
        try:
            model = ct.models.MLModel(str(path), skip_model_load=True)
            spec = model.get_spec()
        except Exception as exc:  # a broken package: one line
            raise InvdnError(f"{path.name}: cannot read the Core ML package ({exc})") from None
        if spec.WhichOneof("Type") != "mlProgram":
            raise InvdnError(f"{path.name}: not an ML Program; {EVALUATOR} evaluates ML Programs only")
        try:
            program = load(spec, spec.specificationVersion, model.weights_dir)
        except Exception as exc:
            raise InvdnError(f"{path.name}: cannot load the ML Program ({exc.__class__.__name__}: {exc})") from None
        fn = program.functions["main"]
        dtype = types.builtin_to_string
        self.name = path.name
        self.inputs = {name: (dtype(var.dtype), tuple(var.shape)) for name, var in fn.inputs.items()}
        self.outputs = [(var.name, dtype(var.dtype)) for var in fn.outputs]
        self.image_inputs, self.image_outputs = set(), set()
        for feature, names in (
            (spec.description.input, self.image_inputs),
            (spec.description.output, self.image_outputs),
        ):
            for f in feature:
                if f.type.WhichOneof("Type") == "imageType":
                    space = f.type.imageType.ColorSpace.Name(f.type.imageType.colorSpace)
                    if space != "RGB":
                        raise InvdnError(f"{path.name}: image {f.name} is {space}; {EVALUATOR} takes RGB images")
                    names.add(f.name)
        self.constants: dict[str, torch.Tensor] = {}
        self.steps = []
        unknown = sorted({op.op_type for op in fn.operations} - set(OPS) - {"const"})
        if unknown:
            raise InvdnError(f"{path.name}: op type(s) {', '.join(unknown)} not supported by {EVALUATOR}")
        for op in fn.operations:
            if op.op_type == "const":
                (out,) = op.outputs
                self.constants[out.name] = self._constant(out.val, dtype(out.dtype))
                continue
            args, settings = {}, {}
            for key, value in op.inputs.items():
                if key in _SETTINGS:
                    settings[key] = value.val
                elif isinstance(value, (list, tuple)):
                    args[key] = [v.name for v in value]
                else:
                    args[key] = value.name
            outs = [(o.name, dtype(o.dtype)) for o in op.outputs]
            if op.op_type.startswith("constexpr_"):  # compile-time: materialise once
                values = {k: self.constants[v] for k, v in args.items()} | settings
                self.constants[outs[0][0]] = _round(OPS[op.op_type](values), outs[0][1])
                continue
            self.steps.append((op.op_type, op.name, args, settings, outs))
        computed = {dtype for *_, outs in self.steps for _, dtype in outs}
        self.arithmetic = "fp16" if "fp16" in computed else "fp32"  # the precision the program computes in

    @staticmethod
    def _constant(val, dtype: str) -> torch.Tensor | object:
        if dtype in ("fp16", "fp32"):
            return torch.from_numpy(np.asarray(val, dtype=np.float32).copy())
        if isinstance(val, (str, bytes)) or dtype == "string":
            return val
        return torch.from_numpy(np.array(val))

    def run(self, feeds: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], list[str]]:
        """Outputs (as numpy arrays of their MIL dtype) for inputs given as float arrays; and the ops where a value
        first turned Inf/NaN."""
        env: dict[str, torch.Tensor] = dict(self.constants)
        nonfinite: set[str] = set()
        events: list[str] = []
        for name, (dtype, shape) in self.inputs.items():
            if name not in feeds:
                raise InvdnError(f"{self.name}: no value for input {name!r}")
            value = torch.from_numpy(np.asarray(feeds[name], dtype=np.float32))
            if tuple(value.shape) != shape:
                raise InvdnError(f"{self.name}: input {name} has shape {list(value.shape)}, the program {list(shape)}")
            env[name] = _round(value, dtype)
        with torch.inference_mode():
            for op_type, op_name, args, settings, outs in self.steps:
                values = {
                    k: ([env[n] for n in v] if isinstance(v, list) else env[v]) for k, v in args.items()
                } | settings
                (out_name, out_dtype), *_ = outs
                out = _round(OPS[op_type](values), out_dtype)
                env[out_name] = out
                # one sum is finite when every value is (fp16 values cannot overflow a float32 sum); else look closer
                if not (bool(torch.isfinite(out.sum())) or bool(torch.isfinite(out).all())):
                    names = [n for v in args.values() for n in (v if isinstance(v, list) else [v])]
                    if not nonfinite.intersection(names):
                        bad = int((~torch.isfinite(out)).sum())
                        events.append(f"{op_type} {op_name!r} turned {bad} value(s) Inf/NaN in {out_dtype}")
                    nonfinite.add(out_name)
        outputs = {}
        for name, dtype in self.outputs:
            out = env[name]
            outputs[name] = out.numpy().astype(np.float16 if dtype == "fp16" else np.float32)
        return outputs, events


class MilRunner:
    """Runs a Core ML artifact with :class:`MilProgram` tile by tile: NCHW float32 in [0, 1] in and out, like every
    runner (image I/O converted as the module says); ``z`` is fed to artifacts that take it."""

    evaluator = EVALUATOR

    def __init__(self, path: Path, z: np.ndarray | None = None) -> None:
        self.program = MilProgram(path)
        names = list(self.program.inputs)
        self.image_name = names[0]
        self.z_name = names[1] if len(names) > 1 else None
        if (z is None) != (self.z_name is None):
            raise InvdnError(f"{self.program.name}: the manifest and the program disagree on a z input")
        self.z = z
        self.output_name = self.program.outputs[0][0]
        self.arithmetic = self.program.arithmetic
        self.events: list[str] = []

    @property
    def clips_output(self) -> bool:
        """An image output is clipped to [0, 1] in the program (the reference must be too, to compare)."""
        return self.output_name in self.program.image_outputs

    def problems(self) -> list[str]:
        """Values that turned Inf/NaN inside the program (e.g. an FP16 overflow), one line each, first ones first."""
        return list(dict.fromkeys(self.events))[:5]

    def run(self, batch: np.ndarray) -> np.ndarray:
        outs = []
        for item in batch:  # artifacts have a fixed batch of 1
            x = item[None].astype(np.float32)
            if self.image_name in self.program.image_inputs:
                x = np.round(np.clip(x, 0.0, 1.0) * 255.0)  # 8-bit pixels
            feeds = {self.image_name: x}
            if self.z_name:
                feeds[self.z_name] = self.z
            result, events = self.program.run(feeds)
            self.events += events
            out = result[self.output_name].astype(np.float32)
            if self.output_name in self.program.image_outputs:
                out = out / np.float32(255.0)
            outs.append(out[0])
        return np.stack(outs)


def load(path: Path, entry: dict, threads: int | None = None) -> MilRunner:
    if threads:
        torch.set_num_threads(threads)
    return MilRunner(path, manifest_z(entry) if entry["z"]["as_input"] else None)
