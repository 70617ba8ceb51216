"""CoreML backend (coremltools 9): ML Program ``.mlpackage``, FP32 or FP16 compute, INT8 = per-channel linear
symmetric int8 weights (``coremltools.optimize.coreml.linear_quantize_weights``) with FP16 compute.

The constant-z artifact takes and returns an **image** (RGB, 8 bits, scaled by 1/255 on the way in and clipped
and scaled by 255 on the way out), which is what Vision / ``CVPixelBuffer`` apps feed; the z-input artifact is the
**tensor** variant (NCHW float32 ``image`` in [0, 1] and ``z``), for Monte-Carlo ensembling on the device.
coremltools converts and saves on Linux but only Apple devices run a model: here every artifact is executed by the
reference evaluator of its ML Program (:mod:`invdn_mobile.runtimes.coreml_mil`), and :func:`validate` checks the
package against its manifest entry (I/O names, kinds, dtypes and shapes, spec version, metadata).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import torch
from torch import nn

from invdn_mobile import __version__
from invdn_mobile.errors import InvdnError
from invdn_mobile.export.integer import prepared as with_rewrites
from invdn_mobile.export.registry import ExportOptions
from invdn_mobile.extras import need
from invdn_mobile.model import Denoiser
from invdn_mobile.quiet import quiet

INPUT, Z_INPUT, OUTPUT = "image", "z", "denoised"
MIN_TARGET = "iOS16"  # ML Program with image outputs and FP16 image I/O
LICENSE = "Apache-2.0 (code); weights: see the model card shipped with invdn-mobile"


class ImageOut(nn.Module):
    """Output as an 8-bit-ready image: clip to [0, 1], scale to [0, 255]."""

    def __init__(self, denoiser: Denoiser) -> None:
        super().__init__()
        self.denoiser = denoiser

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return torch.clamp(self.denoiser(image), 0.0, 1.0) * 255.0


def _require():
    return need("coremltools", silent=True)


def export(denoiser: Denoiser, precision: str, tile: int, path: Path, calibration=None, options=None) -> None:
    """Write one ``.mlpackage`` folder to ``path`` (the caller makes the write atomic)."""
    ct = _require()
    denoiser = with_rewrites(denoiser, options or ExportOptions())
    x = torch.rand(1, 3, tile, tile)
    if denoiser.z_input:
        z = denoiser.z_for(tile, tile)
        module, example = denoiser.eval(), (x, z)
        inputs = [ct.TensorType(name=INPUT, shape=x.shape), ct.TensorType(name=Z_INPUT, shape=z.shape)]
        outputs = [ct.TensorType(name=OUTPUT)]
    else:
        module, example = ImageOut(denoiser.eval()).eval(), (x,)
        inputs = [ct.ImageType(name=INPUT, shape=x.shape, scale=1 / 255.0, color_layout=ct.colorlayout.RGB)]
        outputs = [ct.ImageType(name=OUTPUT, color_layout=ct.colorlayout.RGB)]
    compute = ct.precision.FLOAT32 if precision == "fp32" else ct.precision.FLOAT16
    with quiet():
        with torch.no_grad():
            traced = torch.jit.trace(module, example)
        mlmodel = ct.convert(
            traced,
            inputs=inputs,
            outputs=outputs,
            convert_to="mlprogram",
            compute_precision=compute,
            minimum_deployment_target=getattr(ct.target, MIN_TARGET),
        )
        if precision == "int8":
            from coremltools.optimize.coreml import OpLinearQuantizerConfig, OptimizationConfig, linear_quantize_weights

            config = OptimizationConfig(
                global_config=OpLinearQuantizerConfig(mode="linear_symmetric", dtype="int8", granularity="per_channel")
            )
            mlmodel = linear_quantize_weights(mlmodel, config=config)
    seed, scale = denoiser.seed, denoiser.z_scale
    mlmodel.short_description = (
        "InvDN real-noise denoiser (CVPR 2021): forward pass to the low-resolution channels, seeded z_HF "
        f"(seed {seed}, scale {scale}), reverse pass. Fixed {tile}x{tile} tile; tile larger photos with overlap."
    )
    mlmodel.author = "invdn-mobile"
    mlmodel.license = LICENSE
    mlmodel.version = __version__
    if denoiser.z_input:
        mlmodel.input_description[INPUT] = f"Noisy RGB, float32 NCHW 1x3x{tile}x{tile}, values in [0, 1]"
        mlmodel.input_description[Z_INPUT] = "z_HF: standard normal sample x scale (see the manifest), NCHW"
        mlmodel.output_description[OUTPUT] = "Denoised RGB, float32 NCHW, [0, 1] (clip before display)"
    else:
        mlmodel.input_description[INPUT] = f"Noisy RGB image, {tile}x{tile} (scaled by 1/255 inside)"
        mlmodel.output_description[OUTPUT] = f"Denoised RGB image, {tile}x{tile}"
    mlmodel.user_defined_metadata.update(
        {
            "precision": precision,
            "tile": str(tile),
            "z_seed": str(seed),
            "z_scale": str(scale),
            "minimum_deployment_target": MIN_TARGET,
        }
    )
    mlmodel.save(str(path))


def _program(path: Path):
    ct = _require()
    spec = ct.utils.load_spec(str(path))
    if not spec.HasField("mlProgram"):
        raise InvdnError(f"{Path(path).name}: not an ML Program")
    fn = spec.mlProgram.functions["main"]
    return spec, fn, fn.block_specializations[fn.opset]


def inspect(path: Path) -> dict:
    """Ops (type -> count), highest tensor rank and conv/conv_transpose MACs, read from the saved ML Program."""
    spec, fn, block = _program(path)
    shapes: dict[str, list[int]] = {}
    for arg in fn.inputs:
        shapes[arg.name] = [int(d.constant.size) for d in arg.type.tensorType.dimensions]
    for op in block.operations:
        for out in op.outputs:
            shapes[out.name] = [int(d.constant.size) for d in out.type.tensorType.dimensions]
    macs = 0
    for op in block.operations:
        if op.type in ("conv", "conv_transpose"):
            w = shapes[op.inputs["weight"].arguments[0].name]
            x = shapes[op.inputs["x"].arguments[0].name]
            out = shapes[op.outputs[0].name]
            # every output element of a conv reads w.size / C_out weights; every input element of a transposed
            # conv is read by w.size / C_in of them
            macs += (
                int(np.prod(out) * np.prod(w) // out[1]) if op.type == "conv" else int(np.prod(x) * np.prod(w) // x[1])
            )
    return {
        "ops": dict(sorted(Counter(op.type for op in block.operations).items())),
        "max_rank": max((len(s) for s in shapes.values()), default=0),
        "macs": macs,
        # tensor I/O dtypes as the spec declares them (FP16 programs for iOS16+ take and give float16 arrays)
        "io_dtypes": {f.name: _dtype(f) for f in (*spec.description.input, *spec.description.output)},
    }


def _dtype(feature) -> str:
    """The manifest dtype of an I/O feature: "image", "float32" or "float16"."""
    if feature.type.WhichOneof("Type") == "imageType":
        return "image"
    ct = _require()
    return ct.proto.FeatureTypes_pb2.ArrayFeatureType.ArrayDataType.Name(feature.type.multiArrayType.dataType).lower()


def validate(path: Path, entry: dict) -> list[str]:
    """Structural checks that stand in for running the model on Linux: ML Program, I/O names, types and shapes as
    the manifest says, deployment target, metadata. Returns the problems (empty: valid)."""
    spec, _, block = _program(path)
    problems = []
    desc = spec.description
    want_in = [i["name"] for i in entry["inputs"]]
    got_in = [i.name for i in desc.input]
    if got_in != want_in:
        problems.append(f"inputs {got_in} != {want_in}")
    if [o.name for o in desc.output] != [o["name"] for o in entry["outputs"]]:
        problems.append(f"outputs {[o.name for o in desc.output]}")
    for feature, want in zip([*desc.input, *desc.output], [*entry["inputs"], *entry["outputs"]]):
        kind = feature.type.WhichOneof("Type")
        if _dtype(feature) != want.get("dtype"):
            problems.append(f"{feature.name}: the program says {_dtype(feature)}, the manifest {want.get('dtype')}")
        if want.get("dtype") == "image":
            if (
                kind != "imageType"
                or [feature.type.imageType.height, feature.type.imageType.width] != want["shape"][2:]
            ):
                problems.append(f"{feature.name}: want a {want['shape'][2:]} image, got {kind}")
        elif kind != "multiArrayType" or (
            feature in desc.input and list(feature.type.multiArrayType.shape) != want["shape"]
        ):
            problems.append(f"{feature.name}: want a {want['shape']} tensor, got {kind}")
    if spec.specificationVersion < 7:  # iOS16 = spec 7
        problems.append(f"specification version {spec.specificationVersion} < 7 (iOS16)")
    if not desc.metadata.shortDescription or not desc.metadata.license:
        problems.append("metadata (description, license) missing")
    if not len(block.operations):
        problems.append("empty program")
    return problems
