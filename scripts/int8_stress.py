"""INT8 on the stress set, before and after the stress-aware calibration (docs/int8.md, "Photos that stress the
ranges"): every INT8 recipe of ``invdn export all`` (and the 16-bit-activation ones) exported with the calibration
crops of ``samples/calibration`` only ("before"; still ``invdn export``'s default) and with the generated stress
crops of the calibration seeds added ("after"; ``invdn export --calibrate-generated``), each executed on the held-out
and the stress photos, z baked in (no -zin twin). Writes ``benchmarks/int8/stress-<date>.json``: per recipe, variant
and calibration, the gate status and the mean / worst drop vs clean and the max abs error over the held-out, the
stress and both sets (cases inside the model's domain; the excluded ones listed).

``--split on|off``: every recipe with its blocks' concatenations split or not, whatever its ``split_concats`` says
(docs/int8.md, "Weights: split the concatenation"); each row records which.

Usage: PYTHONPATH=. python scripts/int8_stress.py [--recipes onnx-int8 ...] [--variants compact paper] [--split on]
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

from invdn_mobile.denoise import resolve_weights
from invdn_mobile.export.run import ExportJob, export_artifacts
from invdn_mobile.export.targets import load_targets
from invdn_mobile.model.checkpoint import load_weights

EXTRA = ("android-npu-a16w8", "onnx-npu-a16w8")  # 16-bit activations: not in `export all` before this study


def summary(per_case: list[dict], stress: bool | None) -> dict:
    cases = [
        c
        for c in per_case
        if c.get("in_domain", True) and (stress is None or c["case"].startswith(("stress-", "skimage-")) == stress)
    ]
    if not cases:
        return {}
    drops = np.array([c["drop_db"] for c in cases], dtype=float)
    errs = np.array([c["max_abs_err"] for c in cases], dtype=float)
    worst = int(np.nanargmax(drops))
    return {
        "cases": len(cases),
        "drop_mean_db": round(float(np.nanmean(drops)), 4),
        "drop_worst_db": round(float(np.nanmax(drops)), 4),
        "worst_case": cases[worst]["case"],
        "max_abs_err": round(float(np.nanmax(errs)), 5),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--recipes", nargs="*", help="recipe names (default: every INT8 recipe in `export all` + a16w8)")
    ap.add_argument("--variants", nargs="*", help="only these variants")
    ap.add_argument("--out", type=Path, default=Path("/tmp/int8-stress"))
    ap.add_argument("--only", choices=("before", "after"), help="only one calibration")
    ap.add_argument("--dest", type=Path, help="the JSON written (default benchmarks/int8/stress-<date>.json)")
    ap.add_argument("--split", choices=("on", "off"), help="override the recipes' split_concats")
    args = ap.parse_args()
    targets = load_targets()
    names = args.recipes or [
        n for n, t in targets.items() if t.precision in ("int8", "int8dyn") and (t.in_all or n in EXTRA)
    ]
    record = {
        "date": datetime.date.today().isoformat(),
        "machine": platform.processor() or platform.machine(),
        "cpu": next(
            (ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
             if ln.startswith("model name")), "?"),
        "args": "".join(f" {a}" for a in sys.argv[1:]),
        "rows": [],
    }  # fmt: skip
    stamp = record["date"]
    dest = args.dest or Path("benchmarks/int8") / f"stress-{stamp}.json"
    for name in names:
        t = targets[name]
        for variant in t.variants:
            if args.variants and variant not in args.variants:
                continue
            calibrates = t.precision == "int8" and t.format != "coreml"
            for calib in ("before", "after") if calibrates else ("after",):
                if args.only and calibrates and calib != args.only:
                    continue
                options = t.options(variant)
                if args.split:
                    options = dataclasses.replace(options, split_concats=args.split == "on")
                path = resolve_weights(None, variant)
                model, meta = load_weights(path, variant)
                job = ExportJob(
                    model, meta, path, t.format, t.precision, args.out / calib / name / variant, t.tile, False,
                    generated_calibration=calib == "after", options=options,
                )  # fmt: skip
                started = time.perf_counter()
                entry = export_artifacts(job, log=print).entries[0]
                p = entry["parity"]
                row = {
                    "recipe": name,
                    "variant": variant,
                    "calibration": calib if calibrates else "none (no activation calibration)",
                    "split_concats": options.split_concats,
                    "status": entry["gate"]["status"],
                    "failures": entry["gate"]["failures"],
                    "bytes": entry["bytes"],
                    "seconds": round(time.perf_counter() - started, 1),
                    "excluded": p.get("excluded", []),
                    "all": summary(p["per_case"], None),
                    "heldout": summary(p["per_case"], False),
                    "stress": summary(p["per_case"], True),
                }
                record["rows"].append(row)
                print(json.dumps({k: row[k] for k in ("recipe", "variant", "calibration", "status", "all")}))
                dest.parent.mkdir(parents=True, exist_ok=True)
                dest.write_text(json.dumps(record, indent=1) + "\n")


if __name__ == "__main__":
    main()
