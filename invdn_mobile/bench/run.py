"""One ``invdn bench`` run: pick the backends, measure the machine's peaks, time everything, write the results file."""

from __future__ import annotations

import fnmatch
import json
import os
from collections.abc import Callable
from pathlib import Path

import torch

from invdn_mobile.atomic import atomic_write_bytes, make_dir
from invdn_mobile.bench import schema
from invdn_mobile.bench.backends import artifact_backends, torch_backends
from invdn_mobile.bench.harness import (
    Backend,
    Settings,
    add_ratios,
    machine_facts,
    measure_peaks,
    results_document,
    run_bench,
    select,
)
from invdn_mobile.errors import InvdnError
from invdn_mobile.extras import have
from invdn_mobile.model.checkpoint import default_weights
from invdn_mobile.model.variants import VARIANTS

RESULTS_DIR = Path("benchmarks/results")


def devices_for(device: str) -> list[str]:
    if device == "auto":
        return ["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"]
    if device not in ("cpu", "cuda", "all"):
        raise InvdnError(f"--device must be cpu, cuda, all or auto, got {device!r}")
    if device in ("cuda", "all") and not torch.cuda.is_available():
        raise InvdnError("--device cuda: PyTorch sees no CUDA device here")
    return ["cpu", "cuda"] if device == "all" else [device]


def default_variants() -> list[str]:

    return [v for v in VARIANTS if default_weights(v) is not None]


def collect_backends(
    variants: list[str],
    devices: list[str],
    artifacts: Path,
    tile: int,
    weights: Path | None = None,
    compile_: bool = True,
    patterns: list[str] | None = None,
    target_patterns: list[str] | None = None,
    threads: int | None = None,
) -> list[Backend]:
    """The backends to time; ``threads``: the artifact runtimes' intra-op threads (default: every core)."""
    backends: list[Backend] = []
    for device in devices:
        for variant in variants[:1] if weights else variants:  # --weights: that one file
            backends += torch_backends(weights, variant, device, tile, compile_)
        found = artifact_backends(artifacts, device, variants, threads)
        if target_patterns:
            found = [b for b in found if any(fnmatch.fnmatch(b.target or "", p) for p in target_patterns)]
        backends += found
    chosen = select(backends, patterns)
    if not chosen:
        raise InvdnError(f"no backend matches {patterns}; known: {sorted({b.backend for b in backends})}")
    return chosen


def benchmark(
    backends: list[Backend],
    sizes: list[tuple[int, int]],
    settings: Settings,
    machine: str | None = None,
    on_row: Callable[[dict], None] | None = None,
) -> dict:
    devices = sorted({b.device for b in backends})
    before = _peaks(devices)
    rows = run_bench(backends, sizes, settings, before, on_row)
    # A shared machine's speed drifts during a run: the peak is the better of a probe before and one after the rows
    # (with the probe before only, a model measured 105 % of a peak taken in a slow moment).
    after = _peaks(devices)
    peaks = {key: max(value, after.get(key, value)) for key, value in before.items()}
    add_ratios(rows, peaks)
    main_device = "cuda" if "cuda" in devices else "cpu"
    doc = results_document(rows, machine_facts(main_device, machine, peaks))
    if not have("jsonschema"):  # a run is never lost for want of the validator; `invdn bench ingest` validates later
        return doc
    return schema.validate(doc, "bench results")


def _peaks(devices: list[str]) -> dict[str, float]:
    peaks = {}
    for device in devices:  # CUDA peaks are named per precision; CPU ones too: keep both under distinct keys
        for key, value in measure_peaks(device).items():
            peaks[key if device == "cpu" else f"cuda_{key}"] = value
    return peaks


def results_path(doc: dict, folder: Path = RESULTS_DIR) -> Path:
    return Path(folder) / f"{doc['machine']['name']}-{doc['date'][:10]}.json"


def check_output(path: Path | None, folder: Path = RESULTS_DIR) -> None:
    """Fail now, not after the timing, when the results file (``path``, default in ``folder``) cannot be written."""
    if path is not None and Path(path).is_dir():
        raise InvdnError(f"{path}: is a folder; --out names the results file")
    parent = make_dir(Path(path).parent if path is not None else folder)
    if not os.access(parent, os.W_OK | os.X_OK):
        raise InvdnError(f"{parent}: folder is not writable")


def save(doc: dict, path: Path) -> Path:
    try:
        atomic_write_bytes(path, (json.dumps(doc, indent=1) + "\n").encode())
    except OSError as exc:
        raise InvdnError(f"{path}: cannot write the results ({exc.strerror or exc})") from None
    return path


def ingest(path: Path, folder: Path = RESULTS_DIR, cores: int | None = None, soc: str | None = None) -> Path:
    """Validate a results file (e.g. from a demo app's benchmark mode) and add it to ``folder``; a name already taken
    by a different file gets a numbered suffix. A results file of ExecuTorch's benchmark apps is mapped into the
    schema first (``cores`` and ``soc``: the facts those files do not record)."""
    from invdn_mobile.bench import executorch_app

    raw = schema.read_json(path)
    if executorch_app.is_app_results(raw):
        raw = executorch_app.to_results(raw, Path(path), cores, soc)
    doc = schema.validate(raw, str(path))
    target = results_path(doc, folder)
    n = 2
    while target.exists() and json.loads(target.read_text()) != doc:
        target = target.with_name(f"{doc['machine']['name']}-{doc['date'][:10]}-{n}.json")
        n += 1
    return save(doc, target)
