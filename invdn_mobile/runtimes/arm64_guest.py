"""The program that runs inside the arm64 root under ``qemu-aarch64`` (aarch64 Python with only numpy and the
runtime's own wheel there: it imports nothing of this package). It loads one model and serves it over stdin/stdout
for :mod:`invdn_mobile.runtimes.arm64`:

- first it writes one JSON line: ``{"inputs": [...], "outputs": [...]}`` (name, dtype, quantization of each tensor);
- then, for each request, it reads one array per input (in that order), invokes the model once and writes one array
  per output (:func:`send` / :func:`receive`: a length, then the ``.npy`` bytes); end of input ends it.

Around each invocation it makes the marker call ``lseek(-1, MARK, 0)`` (it fails on the invalid descriptor and
changes nothing); the instruction-count plugin (scripts/qemu_icount.c) records its count there.

    python3 arm64_guest.py {litert|litert-compiled|onnxruntime} MODEL [--xnnpack-flags N] [--gpu] [--maps FILE]
"""

import io
import json
import os
import sys

import numpy as np

MARK = 0x1C0DE


def mark() -> None:
    try:
        os.lseek(-1, MARK, 0)
    except OSError:
        pass


def send(stream, array: np.ndarray) -> None:
    """One array on a pipe: its ``.npy`` bytes after their length (8 bytes, little-endian)."""
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(array), allow_pickle=False)
    stream.write(len(buf.getvalue()).to_bytes(8, "little") + buf.getvalue())


def receive(stream) -> np.ndarray:
    head = stream.read(8)
    if len(head) < 8:
        raise EOFError("the other side closed the pipe")
    size = int.from_bytes(head, "little")
    data = stream.read(size)
    if len(data) < size:
        raise EOFError("the other side closed the pipe")
    return np.load(io.BytesIO(data), allow_pickle=False)


def _tensor(name, dtype, quantization=(0.0, 0)):
    return {"name": name, "dtype": np.dtype(dtype).str, "quantization": [float(quantization[0]), int(quantization[1])]}


def litert_interpreter(path: str):
    """The Interpreter API with its default CPU delegate (XNNPACK), one thread: what the x86 runner uses."""
    from ai_edge_litert.interpreter import Interpreter

    runner = Interpreter(model_path=path, num_threads=1).get_signature_runner()
    ins, outs = runner.get_input_details(), runner.get_output_details()
    meta = {
        "inputs": [_tensor(k, v["dtype"], v["quantization"]) for k, v in ins.items()],
        "outputs": [_tensor(k, v["dtype"], v["quantization"]) for k, v in outs.items()],
    }
    return meta, lambda feed: list(runner(**feed).values())


def litert_compiled(path: str, xnnpack_flags: int | None, gpu: bool):
    """The CompiledModel API: CPU (XNNPACK with ``xnnpack_flags``, e.g. FORCE_FP16) or the GPU accelerator."""
    from ai_edge_litert.compiled_model import CompiledModel
    from ai_edge_litert.cpu_options import CpuOptions
    from ai_edge_litert.hardware_accelerator import HardwareAccelerator
    from ai_edge_litert.options import Options

    accel = HardwareAccelerator.GPU if gpu else HardwareAccelerator.CPU
    options = Options(hardware_accelerators=accel, cpu_options=CpuOptions(num_threads=1, xnnpack_flags=xnnpack_flags))
    model = CompiledModel.from_file(path, options=options)
    if gpu and not model.is_fully_accelerated():
        raise RuntimeError("the GPU accelerator did not take the whole graph")
    key = list(model.get_signature_list())[0]
    sig = model.get_signature_list()[key]
    ins, outs = model.get_input_tensor_details(key), model.get_output_tensor_details(key)
    meta = {
        "inputs": [_tensor(n, ins[n]["dtype"]) for n in sig["inputs"]],
        "outputs": [_tensor(n, outs[n]["dtype"]) for n in sig["outputs"]],
    }
    in_bufs, out_bufs = model.create_input_buffers(0), model.create_output_buffers(0)

    def run(feed):
        for buf, t in zip(in_bufs, meta["inputs"]):
            buf.write(np.ascontiguousarray(feed[t["name"]]))
        model.run_by_index(0, in_bufs, out_bufs)
        out = []
        for buf, t in zip(out_bufs, meta["outputs"]):
            shape = outs[t["name"]]["shape"]
            out.append(buf.read(int(np.prod(shape)), np.dtype(t["dtype"])).reshape(shape))
        return out

    return meta, run


def onnxruntime_session(path: str):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    types = {"tensor(float)": "float32", "tensor(float16)": "float16", "tensor(uint8)": "uint8", "tensor(int8)": "int8"}
    meta = {
        "inputs": [_tensor(i.name, types[i.type]) for i in session.get_inputs()],
        "outputs": [_tensor(o.name, types[o.type]) for o in session.get_outputs()],
    }
    return meta, lambda feed: session.run(None, feed)


def main(argv: list[str]) -> None:
    # the replies go to the original stdout; anything the runtimes print (LiteRT logs to stdout) goes to stderr
    stdout = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    kind, path = argv[0], argv[1]
    flags = int(argv[argv.index("--xnnpack-flags") + 1]) if "--xnnpack-flags" in argv else None
    if kind == "litert":
        meta, run = litert_interpreter(path)
    elif kind == "litert-compiled":
        meta, run = litert_compiled(path, flags, "--gpu" in argv)
    elif kind == "onnxruntime":
        meta, run = onnxruntime_session(path)
    else:
        raise SystemExit(f"unknown runtime {kind}")
    stdin = sys.stdin.buffer
    stdout.write((json.dumps(meta) + "\n").encode())
    stdout.flush()
    while stdin.peek(1):
        feed = {t["name"]: receive(stdin) for t in meta["inputs"]}
        mark()
        outs = run(feed)
        mark()
        for out in outs:
            send(stdout, out)
        stdout.flush()
    if "--maps" in argv:  # where each library lies in memory (QEMU shows the guest's own layout), for the profile
        with open("/proc/self/maps") as src, open(argv[argv.index("--maps") + 1], "w") as dst:
            dst.write(src.read())


if __name__ == "__main__":
    main(sys.argv[1:])
