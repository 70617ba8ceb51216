"""Results of ExecuTorch's own benchmark apps (Android Minibench, the Apple benchmark app), mapped into the results
schema so phone numbers for ``.pte`` files come in through ``invdn bench ingest`` like the demo apps'.

Both apps write a JSON list of metric records, one per metric of one model::

    {"benchmarkModel": {"name": ..., "backend": ..., "quantization": ...},
     "metric": "avg_inference_latency(ms)", "actualValue": 41.2, "targetValue": 0.0,
     "deviceInfo": {"device": <brand>, "arch": <model>, "os": "Android 14", "totalMem": ..., "availMem": ...}}

The latency metrics are ``avg_inference_latency(ms)`` (mean over the iterations) and, where written,
``trimmean_inference_latency(ms)`` (mean of the middle 80 %); ``model_load_time(ms)`` and ``load_status`` (0 = loaded)
come with them. The model name is the ``.pte`` file name, which for this project's artifacts says variant, tile and
precision (``invdn-compact-256-fp32``). The records say neither the SoC nor its core count nor the date: ``cores``
and ``soc`` are asked for, the date is the file's modification time.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

from invdn_mobile.errors import InvdnError

ARTIFACT = re.compile(
    r"^invdn-(?P<variant>[a-z0-9]+)-(?P<tile>\d+)-(?P<precision>fp32|fp16|int8|int8dyn)(?P<zin>-zin)?$"
)
LATENCY = ("trimmean_inference_latency(ms)", "avg_inference_latency(ms)")  # preferred first


def is_app_results(doc: object) -> bool:
    """Whether ``doc`` is a list of the apps' metric records (not an invdn results document)."""
    return isinstance(doc, list) and bool(doc) and all(isinstance(r, dict) and "metric" in r for r in doc)


def _field(record: dict, key: str, kind, where: str):
    value = record.get(key)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise InvdnError(f"{where}: {key!r} missing or not a {getattr(kind, '__name__', 'number')}")
    return value


def to_results(records: list, path: Path, cores: int | None, soc: str | None) -> dict:
    """One results document from the apps' records (``path`` names the file in errors and gives the date)."""
    if not cores or cores < 1:
        raise InvdnError(f"{path}: ExecuTorch benchmark results do not record the core count: pass --cores N")
    models: dict[str, dict] = {}
    device: dict | None = None
    for i, record in enumerate(records):
        where = f"{path}: record {i}"
        model = _field(record, "benchmarkModel", dict, where)
        name = _field(model, "name", str, where)
        metric = _field(record, "metric", str, where)
        value = _field(record, "actualValue", (int, float), where)
        info = _field(record, "deviceInfo", dict, where)
        for key in ("device", "arch", "os"):
            _field(info, key, str, where)
        if device is not None and (info["device"], info["arch"]) != (device["device"], device["arch"]):
            raise InvdnError(f"{where}: a second device ({info['device']} {info['arch']}) in one results file")
        device = info
        models.setdefault(name, {"backend": model.get("backend") or "xnnpack"})[metric] = float(value)
    rows = []
    for name, metrics in models.items():
        rows.append(_row(name, metrics, path))
    assert device is not None
    label = re.sub(r"[^a-z0-9]+", "-", f"{device['device']} {device['arch']}".lower()).strip("-")[:60] or "phone"
    machine = {
        "name": label,
        "kind": "phone",
        "cpu": soc or f"not recorded by the app ({device['arch']})",
        "cores": int(cores),
        "gpu": None,
        "os": device["os"],
        "device_model": device["arch"],
        "libraries": {"executorch-benchmark-app": "ios" if "ios" in device["os"].lower() else "android"},
    }
    date = dt.datetime.fromtimestamp(Path(path).stat().st_mtime, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"schema_version": 1, "source": "executorch_app", "date": date, "machine": machine, "rows": rows}


def _row(name: str, metrics: dict, path: Path) -> dict:
    match = ARTIFACT.match(name.removesuffix(".pte"))
    if not match:
        raise InvdnError(
            f"{path}: model {name!r} is not an invdn artifact name (invdn-VARIANT-TILE-PRECISION[-zin].pte)"
        )
    tile = int(match["tile"])
    latency = next((metrics[k] for k in LATENCY if k in metrics), None)
    failed = metrics.get("load_status", 0) != 0
    status = "failed" if failed or latency is None else "ok"
    row = {
        "backend": f"executorch-{metrics['backend'].lower()}",
        "format": "executorch",
        "precision": match["precision"],
        "variant": match["variant"],
        "artifact": f"{match.group(0)}.pte",
        "device": "cpu" if metrics["backend"].lower() == "xnnpack" else metrics["backend"].lower(),
        "size": f"{tile}x{tile}",
        "height": tile,
        "width": tile,
        "tiles": 1,
        "tile": tile,
        "status": status,
        "median_ms": latency if status == "ok" else None,
        "p90_ms": None,
        "speedup_vs_torch_eager": None,
        "speedup_vs_fp32": None,
        "macs": None,
        "bytes": None,
    }
    if status == "failed":
        row["error"] = (
            f"the app could not load the program (load_status {metrics['load_status']:g})"
            if failed
            else "no latency metric in the app's results"
        )
    return row
