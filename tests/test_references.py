"""Parity references made once and shared (invdn_mobile.export.references): read back from the cache folder they equal
a fresh computation, any change to what they depend on gives a new file, an unreadable file is recomputed; and
`invdn export` with several workers records the same parity as one process."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from invdn_mobile.export import references
from invdn_mobile.export.batch import run_jobs
from invdn_mobile.export.references import fp16_row, parity_reference
from invdn_mobile.export.run import ExportJob
from invdn_mobile.gates import FP16_COMPUTE_GATE
from invdn_mobile.model import Denoiser
from invdn_mobile.model.checkpoint import load_weights
from invdn_mobile.parity import fp16_compute_row, parity_set

TILE = 32
NOISES = ("camera:iso3200", "awgn:15")


@pytest.fixture()
def cache(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    monkeypatch.setenv("INVDN_CACHE", str(folder))
    monkeypatch.setattr(references, "_SETS", {})  # nothing from this process: only the cache folder
    return folder / "parity"


def _reference(weights, photos, tile=TILE, seed=0):
    model, _ = load_weights(weights)
    return parity_reference(model, weights, tile, seed, 1.0, photos, NOISES, ("heldout",))


def test_a_cached_reference_equals_a_fresh_computation(cache, tiny_weights, photos):
    first = _reference(tiny_weights, photos)
    (stored,) = cache.glob("*.npz")
    references._SETS.clear()  # as a new process: read from the file
    again = _reference(tiny_weights, photos)
    assert again is not first and again.key == first.key == stored.stem
    # independent of the cache: parity_set computes the cases and outputs directly
    model, _ = load_weights(tiny_weights)
    fresh = parity_set(Denoiser(model, tile=(TILE, TILE), seed=0).eval(), photos, NOISES, TILE)
    assert [c.label for c in again.cases] == [c.label for c in fresh.cases] and len(fresh.cases) == 4
    for a, b, ra, rb in zip(again.cases, fresh.cases, again.reference, fresh.reference):
        np.testing.assert_array_equal(a.noisy, b.noisy)
        np.testing.assert_array_equal(a.clean, b.clean)
        np.testing.assert_array_equal(ra, rb)
    np.testing.assert_array_equal(again.tiled, fresh.tiled)
    np.testing.assert_array_equal(again.tiled_reference, fresh.tiled_reference)


def test_any_change_it_depends_on_makes_a_new_entry(cache, tiny_weights, photos, tmp_path):
    keys = {_reference(tiny_weights, photos).key}
    keys.add(_reference(tiny_weights, photos, tile=48).key)  # another tile
    keys.add(_reference(tiny_weights, photos, seed=1).key)  # another z
    other = tmp_path / "other.safetensors"  # other weights (one byte of the file changed)
    data = bytearray(tiny_weights.read_bytes())
    data[-1] ^= 1
    other.write_bytes(bytes(data))
    keys.add(_reference(other, photos).key)
    changed = tmp_path / "photos"  # other photos (one photo fewer)
    shutil.copytree(photos, changed)
    sorted(changed.iterdir())[0].unlink()
    keys.add(_reference(tiny_weights, changed).key)
    assert len(keys) == 5 and {p.stem for p in cache.glob("*.npz")} == keys


def test_an_unreadable_cache_file_is_recomputed(cache, tiny_weights, photos):
    first = _reference(tiny_weights, photos)
    (stored,) = cache.glob("*.npz")
    stored.write_bytes(stored.read_bytes()[:1000])  # truncated
    references._SETS.clear()
    again = _reference(tiny_weights, photos)
    for a, b in zip(first.reference, again.reference):
        np.testing.assert_array_equal(a, b)
    assert stored.stat().st_size > 1000  # rewritten whole


def test_the_fp16_row_is_stored_and_read_back(cache, tiny_weights, photos):
    pset = _reference(tiny_weights, photos)
    row = fp16_row("a.onnx", "onnx", "fp16", pset, FP16_COMPUTE_GATE)
    (stored,) = cache.glob("*-fp16-*.json")
    assert json.loads(stored.read_text())["evaluator"] == "torch-fp16-ops"
    references._SETS.clear()
    again = fp16_row("b.onnx", "onnx", "fp16", _reference(tiny_weights, photos), FP16_COMPUTE_GATE)
    # measured again without any cache: the same numbers (to the digits a manifest records)
    model, _ = load_weights(tiny_weights)
    fresh = fp16_compute_row("c", "onnx", "fp16", parity_set(pset.denoiser, photos, NOISES, TILE), FP16_COMPUTE_GATE)
    assert again.artifact == "b.onnx" and row.artifact == "a.onnx"
    assert again.status == fresh.status == "pass"
    recorded, measured = again.to_dict(), fresh.to_dict()
    for key in ("max_abs_err", "psnr_vs_torch_worst", "drop_db", "drop_worst_db", "per_case"):
        assert recorded[key] == measured[key], key
    assert [c["case"] for c in again.per_case] == [c.label for c in pset.cases]


def test_workers_record_the_same_parity_as_one_process(tmp_path, tiny_weights, photos, monkeypatch):
    """Two exports side by side (two worker processes, the references computed once into the cache) record the same
    parity as one process computing everything itself, in the order given."""
    model, meta = load_weights(tiny_weights)
    logs, parity = {}, {}
    for workers in (1, 2):
        monkeypatch.setenv("INVDN_CACHE", str(tmp_path / f"cache{workers}"))
        monkeypatch.setattr(references, "_SETS", {})
        jobs = [
            (f"onnx-{p}", ExportJob(model, meta, tiny_weights, "onnx", p, tmp_path / f"{workers}-{p}", TILE,
                                    images=photos, sets=("heldout",)))
            for p in ("fp32", "fp16")
        ]  # fmt: skip
        logs[workers] = []
        results = run_jobs(jobs, workers, log=logs[workers].append)
        parity[workers] = [
            [{k: e[k] for k in ("file", "parity", "gate")} | {"fp16": e.get("parity_fp16_compute")} for e in r.entries]
            for r in results
        ]
        assert [e["precision"] for r in results for e in r.entries] == ["fp32", "fp32", "fp16", "fp16"]
        assert [e["gate"]["status"] for r in results for e in r.entries] == ["pass"] * 4, logs[workers]
    assert logs[2][0].startswith("2 export jobs on 2 workers")
    assert sum(line.startswith("references: ") for line in logs[2]) == 1  # one weights/tile: computed once
    assert len(list((tmp_path / "cache2" / "parity").glob("*-fp16-*.json"))) == 1
    # the same numbers up to float rounding: a worker's runtimes use 1 thread here, one process the default 2, and
    # the FP16 file's error (~6e-3) moves in its fourth digit with the summation order
    for one, two in zip(parity[1], parity[2]):
        for a, b in zip(one, two):
            assert a["file"] == b["file"] and a["gate"] == b["gate"]
            assert b["parity"]["max_abs_err"] == pytest.approx(a["parity"]["max_abs_err"], rel=2e-3, abs=1e-6)
            assert b["parity"]["psnr_vs_torch_worst"] == pytest.approx(a["parity"]["psnr_vs_torch_worst"], rel=1e-3)
            for key in ("drop_db", "drop_worst_db"):
                assert b["parity"][key] == pytest.approx(a["parity"][key], abs=1e-3), key
            assert (a["fp16"] is None) == (b["fp16"] is None)
            if a["fp16"]:  # the FP16-arithmetic row: PyTorch, computed once in the references task
                assert b["fp16"]["max_abs_err"] == pytest.approx(a["fp16"]["max_abs_err"], rel=2e-3)
