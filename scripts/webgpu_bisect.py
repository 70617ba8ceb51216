"""Bisect onnxruntime-web's WebGPU results on SwiftShader against native ONNX Runtime, node by node.

    invdn export web-fp32 --tile 64 -o /tmp/w
    python scripts/webgpu_bisect.py /tmp/w/invdn-compact-64-fp32.onnx [--photo PNG] [--work DIR]   # ~3 min
    python scripts/webgpu_bisect.py --conv [--work DIR]                                             # ~30 s

With MODEL, the script feeds two tiles (a crop of samples/noisy/cups.png and a uniform-random tile) to:
- the model as exported, on onnxruntime-web's WASM and WebGPU backends with several session and WebGPU options
  (RUNS), and
- a copy with every intermediate node output added as a graph output, on WebGPU (default layout, optimisation off),
in headless Debian Chromium (web_demo/tests/run_graph.mjs, `--enable-unsafe-webgpu`: SwiftShader's adapter), and
compares each output with native ONNX Runtime (CPU, optimisation off). It prints one line per run (max abs error of
the final output) and, for the node-by-node run, the first nodes in graph order whose output differs beyond float
rounding (max abs error above 1e-4 times the output's scale).

With --conv, it runs single-Conv models (CONV_CASES: input/output channels, size, kernel, bias; random weights) on
WebGPU with `preferredLayout` NHWC and NCHW, and prints each one's max abs error to native ONNX Runtime.
Needs node, chromium and web_demo/node_modules. Findings (2026-12-07) in docs/web.md, "WebGPU on SwiftShader".
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
RUNNER = ROOT / "web_demo" / "tests" / "run_graph.mjs"
REL_TOL = 1e-4
RUNS = [  # (name, backend, session options, WebGPU EP options)
    ("wasm-all", "wasm", {"graphOptimizationLevel": "all"}, None),
    ("webgpu-all", "webgpu", {"graphOptimizationLevel": "all"}, None),
    ("webgpu-disabled", "webgpu", {"graphOptimizationLevel": "disabled"}, None),
    ("webgpu-basic", "webgpu", {"graphOptimizationLevel": "basic"}, None),
    ("webgpu-nchw", "webgpu", {"graphOptimizationLevel": "all"}, {"preferredLayout": "NCHW"}),
    ("webgpu-nhwc", "webgpu", {"graphOptimizationLevel": "all"}, {"preferredLayout": "NHWC"}),
    ("webgpu-gpubuffer", "webgpu", {"graphOptimizationLevel": "all", "preferredOutputLocation": "gpu-buffer"}, None),
]
# (input channels, output channels, size, kernel, bias); the model's first failing Conv is 9 -> 32, 3x3, 32x32, bias
CONV_CASES = [(9, 32, 32, 3, True), (9, 32, 32, 3, False), (9, 32, 16, 3, True), (9, 32, 64, 3, True)]
CONV_CASES += [(9, 8, 32, 3, True), (9, 32, 32, 1, True), (9, 32, 32, 5, True), (9, 30, 32, 3, True)]
CONV_CASES += [(6, 30, 32, 3, True)] + [
    (c, 32, 32, 3, True) for c in (3, 5, 6, 7, 8, 10, 11, 12, 13, 16, 17, 25, 32, 41)
]


def with_all_outputs(model: onnx.ModelProto) -> onnx.ModelProto:
    """A copy whose graph also outputs every node's float output (after the model's own outputs, in node order)."""
    inferred = onnx.shape_inference.infer_shapes(model)
    types = {v.name: v for v in list(inferred.graph.value_info) + list(inferred.graph.output)}
    m = onnx.ModelProto()
    m.CopyFrom(model)
    have = {o.name for o in m.graph.output}
    for node in m.graph.node:
        for name in node.output:
            vi = types.get(name)
            if name not in have and vi is not None and vi.type.tensor_type.elem_type == TensorProto.FLOAT:
                m.graph.output.append(vi)
                have.add(name)
    return m


def tiles(model: onnx.ModelProto, photo: Path) -> tuple[dict[str, np.ndarray], str]:
    """The model's input name and two NCHW tiles of its size: a crop of ``photo`` (reflect-padded) and noise."""
    (inp,) = [i for i in model.graph.input if i.name not in {t.name for t in model.graph.initializer}]
    dims = [d.dim_value for d in inp.type.tensor_type.shape.dim]
    h, w = dims[2], dims[3]
    rgb = np.asarray(Image.open(photo).convert("RGB"), dtype=np.float32) / 255.0
    y, x = min(50, max(0, rgb.shape[0] - h)), min(100, max(0, rgb.shape[1] - w))
    crop = rgb[y : y + h, x : x + w]
    crop = np.pad(crop, ((0, h - crop.shape[0]), (0, w - crop.shape[1]), (0, 0)), mode="reflect")
    noise = np.random.default_rng(0).random(dims, dtype=np.float32)
    return {"photo": crop.transpose(2, 0, 1)[None].copy(), "random": noise}, inp.name


def native(path: Path, feeds: dict) -> dict[str, np.ndarray]:
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    return dict(zip(names, sess.run(names, feeds)))


def job(name: str, model: str, inputs: dict, backend: str, options: dict, ep_options: dict | None) -> dict:
    return {"name": name, "model": model, "inputs": inputs, "ep": backend, "options": options, "epOptions": ep_options}


def run_browser(work: Path, jobs: list[dict]) -> dict[str, dict[str, np.ndarray] | str]:
    """Each job's outputs by name from the browser, or its error message."""
    (work / "jobs.json").write_text(json.dumps(jobs))
    proc = subprocess.run(["node", str(RUNNER), "--dir", str(work)], capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"error: {RUNNER.name} failed:\n{proc.stdout}{proc.stderr}")
    results = {}
    for j in jobs:
        rec = json.loads((work / "out" / f"{j['name']}.json").read_text())
        read = lambda o: np.fromfile(work / "out" / o["file"], dtype="<f4").reshape(o["dims"])  # noqa: E731
        results[j["name"]] = rec["error"] or {o["name"]: read(o) for o in rec["outputs"]}
    return results


def conv_case(cin: int, cout: int, size: int, k: int, bias: bool, seed: int = 0) -> tuple[onnx.ModelProto, np.ndarray]:
    """One Conv (k x k, stride 1, 'same' padding) with random weights, and a random input."""
    rng = np.random.default_rng(seed)
    w = (rng.standard_normal((cout, cin, k, k)) / np.sqrt(cin * k * k)).astype(np.float32)
    inits = [numpy_helper.from_array(w, "w")]
    if bias:
        inits.append(numpy_helper.from_array(rng.standard_normal(cout).astype(np.float32), "b"))
    node = helper.make_node("Conv", ["x", "w"] + (["b"] if bias else []), ["y"], kernel_shape=[k, k], pads=[k // 2] * 4)
    x_info = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, cin, size, size])
    y_info = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, cout, size, size])
    graph = helper.make_graph([node], "conv", [x_info], [y_info], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model, rng.random((1, cin, size, size), dtype=np.float32)


def conv_sweep(work: Path) -> None:
    jobs, refs = [], {}
    for cin, cout, size, k, bias in CONV_CASES:
        case = f"conv-c{cin}-o{cout}-s{size}-k{k}-{'b' if bias else 'nb'}"
        model, x = conv_case(cin, cout, size, k, bias)
        onnx.save(model, str(work / f"{case}.onnx"))
        x.astype("<f4").tofile(work / f"{case}.f32")
        refs[case] = native(work / f"{case}.onnx", {"x": x})["y"]
        spec = {"x": {"file": f"{case}.f32", "dims": list(x.shape)}}
        for layout in ("NHWC", "NCHW"):
            jobs.append(job(f"{case}-{layout}", f"{case}.onnx", spec, "webgpu", {}, {"preferredLayout": layout}))
    for name, got in run_browser(work, jobs).items():
        if isinstance(got, str):
            print(f"{name}: error {got}")
            continue
        diff = np.abs(got["y"] - refs[name.rsplit("-", 1)[0]])
        wrong = int((diff > REL_TOL).sum())
        print(f"{name}: max abs error {float(diff.max()):.3e}" + (f"; {wrong} of {diff.size} wrong" if wrong else ""))


def bisect(model_path: Path, photo: Path, work: Path, runs: list[str], nodes: bool) -> None:
    model = onnx.load(str(model_path))
    inputs, input_name = tiles(model, photo)
    onnx.save(model, str(work / "model.onnx"))
    full = with_all_outputs(model)
    onnx.save(full, str(work / "nodes.onnx"))
    jobs, refs = [], {}
    for key, x in inputs.items():
        x.astype("<f4").tofile(work / f"{key}.f32")
        spec = {input_name: {"file": f"{key}.f32", "dims": list(x.shape)}}
        refs[key] = native(work / "nodes.onnx", {input_name: x})
        jobs += [job(f"{key}-{n}", "model.onnx", spec, b, o, e) for n, b, o, e in RUNS if n in runs]
        if nodes:
            jobs.append(
                job(f"{key}-nodes-webgpu", "nodes.onnx", spec, "webgpu", {"graphOptimizationLevel": "disabled"}, None)
            )
    producer = {o: n for n in model.graph.node for o in n.output}
    final = model.graph.output[0].name
    in_node_order = list(full.graph.output)[len(model.graph.output) :] + list(model.graph.output)
    for name, got in run_browser(work, jobs).items():
        if isinstance(got, str):
            print(f"{name}: error {got}")
            continue
        ref = refs[name.split("-")[0]]
        print(f"{name}: final output max abs error {float(np.abs(got[final] - ref[final]).max()):.3e}")
        if name.endswith("-nodes-webgpu"):
            bad = []
            for o in in_node_order:
                err = float(np.abs(got[o.name] - ref[o.name]).max())
                scale = max(1.0, float(np.abs(ref[o.name]).max()))
                if err > REL_TOL * scale:
                    bad.append(f"  {producer[o.name].op_type:12s} {producer[o.name].name:24s} -> {o.name}: {err:.3e}")
            print(f"  {len(bad)} of {len(in_node_order)} node outputs beyond {REL_TOL:g} x scale; the first:")
            print("\n".join(bad[:6]))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model", type=Path, nargs="?", help="an ONNX web export (not needed with --conv)")
    ap.add_argument("--photo", type=Path, default=ROOT / "samples" / "noisy" / "cups.png")
    ap.add_argument("--work", type=Path, default=None, help="keep the files here (default: a temporary folder)")
    ap.add_argument("--runs", default=",".join(r[0] for r in RUNS), help="comma-separated subset of the runs")
    ap.add_argument("--no-nodes", action="store_true", help="skip the node-by-node run")
    ap.add_argument("--conv", action="store_true", help="run the single-Conv sweep instead")
    args = ap.parse_args(argv)
    if not args.conv and (args.model is None or not args.model.is_file()):
        print(f"error: no ONNX model at {args.model} (give one, or --conv)", file=sys.stderr)
        return 2
    work = args.work or Path(tempfile.mkdtemp(prefix="webgpu-bisect-"))
    work.mkdir(parents=True, exist_ok=True)
    if args.conv:
        conv_sweep(work)
    else:
        bisect(args.model, args.photo, work, args.runs.split(","), not args.no_nodes)
    print(f"files in {work}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
