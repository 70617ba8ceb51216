"""Experiment for docs/int8.md: the `android-npu-int8` recipe (equalized compact, global min/max calibration, I/O
pinned to [0, 1]) with 16-bit activations and 8-bit weights (a16w8) instead of 8-bit activations, through the real
export pipeline (parity on the held-out set, manifest), then LEAKY_RELU folded into 16-bit ops. Ops named with
``--float`` are left out of the quantization recipe and stay float (LiteRT 2.3.0's int16 SUB refuses the scales of our
graph: ``sub.cc:217 input1_shift <= 0``), so the file is not full-integer: the script prints what stays float.

    PYTHONPATH=. python scripts/int8_a16w8.py -o /tmp/a16 --float SUB
    PYTHONPATH=. python scripts/int8_heldout.py /tmp/a16/android-npu-int8/invdn-compact-256-int8.tflite \
        --noise camera:iso3200 --noise awgn:15
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

import numpy as np

import invdn_mobile.export.tflite as tflite
from invdn_mobile.cli.main import app
from invdn_mobile.export.integer import fold_float_islands, tflite_float_ops


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("-o", "--output", type=Path, required=True)
    ap.add_argument("--float", default="SUB", help="comma-separated op types left float")
    args = ap.parse_args()
    keep_float = {op for op in args.float.split(",") if op}

    def quantize_a16w8(model: bytes, calibration, integer_io: bool = False) -> bytes:
        from ai_edge_quantizer import calibrator, quantizer
        from ai_edge_quantizer.utils import qsv_utils

        q = quantizer.Quantizer(model)
        for op in tflite.FULL_INTEGER_OPS:
            if op not in keep_float:
                q.add_static_config(".*", op, activation_num_bits=16, weight_num_bits=8)
        with tflite.quiet():
            calib = calibrator.Calibrator(model, num_threads=1, qsv_update_func=qsv_utils.min_max_update)
            calib.calibrate({"serving_default": tflite.nhwc_feeds(calibration)}, q._recipe_manager)
            qsvs = calib.get_model_qsvs()
            interp = tflite.interpreter(model)
            for detail in interp.get_input_details()[:1] + interp.get_output_details():
                name = detail["name"]
                qsvs[name] = {"min": np.full_like(qsvs[name]["min"], 0.0), "max": np.full_like(qsvs[name]["max"], 1.0)}
            data = bytes(q.quantize(qsvs, enable_progress_report=False).quantized_model)
        data = fold_float_islands(data, ("LEAKY_RELU",))
        left = Counter(line.split()[2] for line in tflite_float_ops(data))
        print(f"a16w8: float ops left: {dict(left) or 'none'}", flush=True)
        return data

    tflite.quantize_full = quantize_a16w8
    tflite.tflite_float_ops = lambda data: []  # reported above; the export's full-integer check would refuse it
    out = str(args.output / "android-npu-int8")
    app(["export", "android-npu-int8", "-o", out, "--no-z-variant"], standalone_mode=True)


if __name__ == "__main__":
    main()
