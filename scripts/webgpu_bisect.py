"""Bisect onnxruntime-web's WebGPU results on SwiftShader against native ONNX Runtime, node by node.

    python scripts/webgpu_bisect.py MODEL.onnx [--photo PNG] [--work DIR]

MODEL is a web export (e.g. `invdn export web-fp32 --tile 64 -o /tmp/w` gives /tmp/w/invdn-compact-64-fp32.onnx).
The script feeds one tile (a crop of samples/noisy/cups.png by default, plus a uniform-random tile) to:
- the model as exported, on onnxruntime-web's WASM and WebGPU backends with several session options, and
- a copy with every intermediate node output added as a graph output, on WebGPU (optimisation off),
in headless Debian Chromium (web_demo/tests/run_graph.mjs, `--enable-unsafe-webgpu`: SwiftShader's adapter), and
compares each output with native ONNX Runtime (CPU, optimisation off). It prints one line per run (max abs error of
the final output) and, for the intermediate run, the first nodes whose output differs beyond float rounding
(max abs error above 1e-4 times the output's scale). Needs node, chromium and web_demo/node_modules.
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
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
RUNNER = ROOT / "web_demo" / "tests" / "run_graph.mjs"
REL_TOL = 1e-4


def with_all_outputs(model: onnx.ModelProto) -> onnx.ModelProto:
    """A copy whose graph also outputs every node's float output (in node order)."""
    inferred = onnx.shape_inference.infer_shapes(model)
    types = {v.name: v for v in list(inferred.graph.value_info) + list(inferred.graph.output)}
    m = onnx.ModelProto()
    m.CopyFrom(model)
    have = {o.name for o in m.graph.output}
    for node in m.graph.node:
        for name in node.output:
            vi = types.get(name)
            if name and name not in have and vi is not None and vi.type.tensor_type.elem_type == onnx.TensorProto.FLOAT:
                m.graph.output.append(vi)
                have.add(name)
    return m


def tiles(model: onnx.ModelProto, photo: Path) -> dict[str, np.ndarray]:
    (inp,) = [i for i in model.graph.input if i.name not in {t.name for t in model.graph.initializer}]
    dims = [d.dim_value for d in inp.type.tensor_type.shape.dim]
    h, w = dims[2], dims[3]
    rgb = np.asarray(Image.open(photo).convert("RGB"), dtype=np.float32) / 255.0
    y, x = min(50, max(0, rgb.shape[0] - h)), min(100, max(0, rgb.shape[1] - w))
    crop = rgb[y : y + h, x : x + w]
    crop = np.pad(crop, ((0, h - crop.shape[0]), (0, w - crop.shape[1]), (0, 0)), mode="reflect")
    photo_tile = crop.transpose(2, 0, 1)[None].copy()
    noise = np.random.default_rng(0).random(dims, dtype=np.float32)
    return {"photo": photo_tile, "random": noise}, inp.name


def native(path: Path, feeds: dict) -> dict[str, np.ndarray]:
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    return dict(zip(names, sess.run(names, feeds)))


RUNS = [  # (name, ep, session options, EP options)
    ("wasm-all", "wasm", {"graphOptimizationLevel": "all"}, None),
    ("webgpu-all", "webgpu", {"graphOptimizationLevel": "all"}, None),
    ("webgpu-disabled", "webgpu", {"graphOptimizationLevel": "disabled"}, None),
    ("webgpu-basic", "webgpu", {"graphOptimizationLevel": "basic"}, None),
    ("webgpu-nchw", "webgpu", {"graphOptimizationLevel": "all"}, {"preferredLayout": "NCHW"}),
    ("webgpu-nhwc", "webgpu", {"graphOptimizationLevel": "all"}, {"preferredLayout": "NHWC"}),
    ("webgpu-gpubuffer", "webgpu", {"graphOptimizationLevel": "all", "preferredOutputLocation": "gpu-buffer"}, None),
]


def conv_case(cin: int, cout: int, size: int, k: int, bias: bool, seed: int = 0) -> tuple[onnx.ModelProto, np.ndarray]:
    """One Conv (k x k, stride 1, 'same' padding) with random weights, and a random input."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    w = (rng.standard_normal((cout, cin, k, k)) / np.sqrt(cin * k * k)).astype(np.float32)
    inits = [numpy_helper.from_array(w, "w")]
    if bias:
        inits.append(numpy_helper.from_array(rng.standard_normal(cout).astype(np.float32), "b"))
    p = k // 2
    node = helper.make_node("Conv", ["x", "w"] + (["b"] if bias else []), ["y"], kernel_shape=[k, k], pads=[p] * 4)
    graph = helper.make_graph(
        [node], "conv",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, cin, size, size])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, cout, size, size])],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model, rng.random((1, cin, size, size), dtype=np.float32)


CONV_CASES = [  # (cin, cout, size, kernel, bias): the model's first failing Conv is 9 -> 32, 3x3, 32x32, bias
    (9, 32, 32, 3, True), (9, 32, 32, 3, False), (9, 32, 16, 3, True), (9, 32, 64, 3, True), (9, 8, 32, 3, True),
    (9, 32, 32, 1, True), (8, 32, 32, 3, True), (12, 32, 32, 3, True), (16, 32, 32, 3, True), (3, 32, 32, 3, True),
    (32, 32, 32, 3, True), (41, 32, 32, 3, True), (5, 32, 32, 3, True), (6, 32, 32, 3, True), (7, 32, 32, 3, True),
    (10, 32, 32, 3, True), (11, 32, 32, 3, True), (13, 32, 32, 3, True), (17, 32, 32, 3, True), (25, 32, 32, 3, True),
    (9, 32, 32, 5, True), (9, 30, 32, 3, True), (6, 30, 32, 3, True),
]


def conv_sweep(work: Path) -> int:
    """Single-Conv models on WebGPU (default layout, NHWC) and WebGPU NCHW, against native ONNX Runtime."""
    jobs, refs = [], {}
    for cin, cout, size, k, bias in CONV_CASES:
        name = f"conv-c{cin}-o{cout}-s{size}-k{k}-{'b' if bias else 'nb'}"
        model, x = conv_case(cin, cout, size, k, bias)
        onnx.save(model, str(work / f"{name}.onnx"))
        x.astype("<f4").tofile(work / f"{name}.f32")
        refs[name] = native(work / f"{name}.onnx", {"x": x})["y"]
        spec = {"x": {"file": f"{name}.f32", "dims": list(x.shape)}}
        for layout in ("NHWC", "NCHW"):
            jobs.append({"name": f"{name}-{layout}", "case": name, "model": f"{name}.onnx", "inputs": spec,
                         "ep": "webgpu", "options": {}, "epOptions": {"preferredLayout": layout}})
    (work / "jobs.json").write_text(json.dumps(jobs))
    proc = subprocess.run(["node", str(RUNNER), "--dir", str(work)], capture_output=True, text=True)
    if proc.returncode != 0:
        print(proc.stdout + proc.stderr, file=sys.stderr)
        return 1
    for job in jobs:
        rec = json.loads((work / "out" / f"{job['name']}.json").read_text())
        if rec["error"]:
            print(f"{job['name']}: error {rec['error']}")
            continue
        (o,) = rec["outputs"]
        got = np.fromfile(work / "out" / o["file"], dtype="<f4").reshape(o["dims"])
        diff = np.abs(got - refs[job["case"]])
        bad = np.argwhere(diff > 1e-4)
        where = f"; wrong outputs: {len(bad)} of {diff.size}, channels {sorted(set(bad[:, 1].tolist()))[:8]}" if len(bad) else ""
        print(f"{job['name']}: max abs error {float(diff.max()):.3e}{where}  [{rec['gpu']}]")
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model", type=Path)
    ap.add_argument("--photo", type=Path, default=ROOT / "samples" / "noisy" / "cups.png")
    ap.add_argument("--work", type=Path, default=None, help="keep the files here (default: a temporary folder)")
    ap.add_argument("--runs", default=",".join(r[0] for r in RUNS), help="comma-separated subset of the runs")
    ap.add_argument("--no-nodes", action="store_true", help="skip the node-by-node run")
    ap.add_argument("--conv", action="store_true", help="run the single-Conv sweep instead (MODEL is not read)")
    args = ap.parse_args(argv)
    work = args.work or Path(tempfile.mkdtemp(prefix="webgpu-bisect-"))
    work.mkdir(parents=True, exist_ok=True)
    if args.conv:
        return conv_sweep(work)
    model = onnx.load(str(args.model))
    inputs, input_name = tiles(model, args.photo)
    onnx.save(model, str(work / "model.onnx"))
    full = with_all_outputs(model)
    onnx.save(full, str(work / "nodes.onnx"))
    jobs, refs = [], {}
    for key, x in inputs.items():
        x.astype("<f4").tofile(work / f"{key}.f32")
        spec = {input_name: {"file": f"{key}.f32", "dims": list(x.shape)}}
        refs[key] = native(work / "nodes.onnx", {input_name: x})
        for name, ep, options, ep_options in RUNS:
            if name in args.runs.split(","):
                jobs.append({"name": f"{key}-{name}", "model": "model.onnx", "inputs": spec, "ep": ep,
                             "options": options, "epOptions": ep_options})
        if not args.no_nodes:
            jobs.append({"name": f"{key}-nodes-webgpu", "model": "nodes.onnx", "inputs": spec, "ep": "webgpu",
                         "options": {"graphOptimizationLevel": "disabled"}, "epOptions": None})
    (work / "jobs.json").write_text(json.dumps(jobs))
    proc = subprocess.run(["node", str(RUNNER), "--dir", str(work)], capture_output=True, text=True)
    if proc.returncode != 0:
        print(proc.stdout + proc.stderr, file=sys.stderr)
        return 1
    producer = {o: n for n in model.graph.node for o in n.output}
    final = model.graph.output[0].name
    summary = {}
    for job in jobs:
        key = job["name"].split("-")[0]
        rec = json.loads((work / "out" / f"{job['name']}.json").read_text())
        if rec["error"]:
            print(f"{job['name']}: error {rec['error']}")
            continue
        got = {o["name"]: np.fromfile(work / "out" / o["file"], dtype="<f4").reshape(o["dims"]) for o in rec["outputs"]}
        err = float(np.abs(got[final] - refs[key][final]).max())
        summary[job["name"]] = err
        print(f"{job['name']}: final output max abs error {err:.3e}")
        if job["model"] == "nodes.onnx":
            bad = []
            for o in list(full.graph.output)[len(model.graph.output) :] + list(model.graph.output):  # node order
                if o.name not in got:
                    continue
                ref = refs[key][o.name]
                e = float(np.abs(got[o.name] - ref).max())
                scale = max(1.0, float(np.abs(ref).max()))
                if e > REL_TOL * scale:
                    n = producer.get(o.name)
                    bad.append((o.name, n.op_type if n else "?", n.name if n else "?", e, scale))
            print(f"  {len(bad)} of {len(full.graph.output)} node outputs beyond {REL_TOL:g} x scale")
            for name, op, node, e, scale in bad[:8]:
                print(f"  {op:16s} {node:40s} -> {name}: max abs error {e:.3e} (scale {scale:.3g})")
    (work / "summary.json").write_text(json.dumps(summary, indent=1))
    print(f"files in {work}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
