"""Benchmark results schema, ingest and the timing harness (on a tiny model: speed is never asserted here)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from invdn_mobile.bench import schema
from invdn_mobile.bench.backends import torch_backends
from invdn_mobile.bench.harness import Backend, Settings, parse_sizes, percentile, results_document, run_bench
from invdn_mobile.bench.run import ingest
from invdn_mobile.cli.main import app
from invdn_mobile.errors import InvdnError
from invdn_mobile.export.targets import load_targets
from invdn_mobile.model.macs import model_macs
from invdn_mobile.tiling import default_overlap, plan

ROOT = Path(__file__).resolve().parent.parent
RESULTS = sorted((ROOT / "benchmarks" / "results").glob("*.json"))
REQUIRED = {"backend", "format", "precision", "size", "median_ms", "p90_ms", "speedup_vs_torch_eager", "macs", "bytes"}
FAST = Settings(warmup=1, repeats=3, min_repeats=2, max_seconds=5.0)


def _machine() -> dict:
    return {"name": "test-box", "kind": "desktop", "cpu": "test cpu", "cores": 2, "peak_gmacs": {"fp32": 10.0}}


@pytest.fixture(scope="module")
def tiny_run(tiny_weights):
    backends = torch_backends(tiny_weights, "paper", "cpu", 16, compile_=False)
    rows = run_bench(backends, [(16, 16), (40, 24)], FAST, {"fp32": 10.0})
    return rows


@pytest.mark.parametrize("path", RESULTS, ids=[p.name for p in RESULTS])
def test_committed_results_follow_the_schema(path):
    doc = schema.load(path)
    assert doc["rows"], "a results file with no rows"
    assert all(REQUIRED <= set(r) for r in doc["rows"])


def test_schema_takes_every_export_precision():
    """A row of any file the exporter makes (e.g. int8w, LiteRT's int8-weight file) can be recorded."""
    from invdn_mobile.export.registry import PRECISIONS

    allowed = schema.schema()["$defs"]["row"]["properties"]["precision"]["enum"]
    assert set(PRECISIONS) <= set(allowed), sorted(set(PRECISIONS) - set(allowed))


def test_harness_times_real_runs_on_a_tiny_model(tiny_run, tiny_weights):
    from invdn_mobile.model.checkpoint import load_weights

    model, _ = load_weights(tiny_weights)
    per_tile = model_macs(model, 16, 16)["denoiser"]
    assert [r["size"] for r in tiny_run] == ["16x16", "40x24"]
    for r in tiny_run:
        assert r["status"] == "ok" and REQUIRED <= set(r)
        tiles = len(plan(r["height"], r["width"], 16, default_overlap(16)))
        assert r["tiles"] == tiles and r["macs"] == tiles * per_tile > 0
        assert 0 < r["min_ms"] <= r["median_ms"] <= r["p90_ms"]
        assert r["speedup_vs_torch_eager"] == 1.0  # the eager row is its own reference
        assert r["gmacs_per_s"] == pytest.approx(r["macs"] / r["median_ms"] / 1e6, rel=1e-2)
        assert r["bytes"] == tiny_weights.stat().st_size
    assert tiny_run[1]["tiles"] > 1  # the second size really goes through the tiler
    schema.validate(results_document(tiny_run, _machine()))


def test_ratios_failures_and_skips_are_rows(tiny_weights):
    (eager,) = torch_backends(tiny_weights, "paper", "cpu", 16, compile_=False)
    slow_fn = eager.make()

    def slower():
        def fn(batch):
            for _ in range(3):
                out = slow_fn(batch)
            return out

        return fn

    def broken():
        raise RuntimeError("converter exploded\nsecond line")

    def missing():
        raise InvdnError("onnxruntime has no CUDAExecutionProvider here")

    common = dict(format="pytorch", precision="fp32", device="cpu", tile=16, macs_per_tile=100, variant=eager.variant)
    backends = [
        eager,
        Backend("slower", make=slower, **common),
        Backend("broken", make=broken, **common),
        Backend("nocuda", make=missing, **common),
        Backend("coreml", make=None, skip="CoreML prediction needs macOS", **common),
    ]
    rows = {r["backend"]: r for r in run_bench(backends, [(16, 16)], FAST, {"fp32": 10.0})}
    assert rows["slower"]["status"] == "ok"
    # the row keeps 3 decimals: within half a unit of the last one (a slow run can make the ratio ~0.007)
    assert rows["slower"]["speedup_vs_torch_eager"] == pytest.approx(
        rows["torch-eager"]["median_ms"] / rows["slower"]["median_ms"], rel=1e-2, abs=5e-4
    )
    assert rows["broken"]["status"] == "failed" and rows["broken"]["error"] == "RuntimeError: converter exploded"
    assert rows["nocuda"]["status"] == "skipped" and "CUDAExecutionProvider" in rows["nocuda"]["error"]
    assert rows["coreml"]["status"] == "skipped" and rows["coreml"]["median_ms"] is None
    schema.validate(results_document(list(rows.values()), _machine()))


def test_parse_sizes_and_percentile():
    assert parse_sizes("128, 256,3000x4000,12mp") == [(128, 128), (256, 256), (3000, 4000), (3000, 4000)]
    for bad in ("", "abc", "0", "256x", "99999"):
        with pytest.raises(InvdnError):
            parse_sizes(bad)
    values = [5.0, 1.0, 3.0, 2.0, 4.0, 10.0]
    for q in (0, 50, 90, 100):
        assert percentile(values, q) == pytest.approx(np.percentile(values, q))


def _good_doc() -> dict:
    row = {
        "backend": "litert-gpu",
        "format": "tflite",
        "precision": "fp16",
        "size": "256x256",
        "height": 256,
        "width": 256,
        "status": "ok",
        "median_ms": 46.0,
        "p90_ms": 51.0,
        "speedup_vs_torch_eager": None,
        "macs": 7_290_000_000,
        "bytes": 1_200_000,
        "device": "gpu",
        "variant": "compact",
    }
    doc = results_document([row], _machine() | {"kind": "phone", "name": "pixel-8a"}, source="android_demo")
    return doc


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda d: d.pop("rows"), "'rows' is a required property"),
        (lambda d: d["rows"][0].pop("median_ms"), "'median_ms' is a required property"),
        (lambda d: d["rows"][0].update(median_ms="fast"), "rows[0].median_ms"),
        (lambda d: d["rows"][0].update(precision="int4"), "rows[0].precision"),
        (lambda d: d["machine"].update(name="../etc/passwd"), "machine.name"),
        (lambda d: d.update(schema_version=2), "schema_version"),
    ],
)
def test_malformed_results_are_one_clear_error(tmp_path, mutate, message):
    schema.validate(_good_doc())
    doc = _good_doc()
    mutate(doc)
    with pytest.raises(InvdnError) as err:
        schema.validate(doc)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_ingest_adds_a_valid_file_and_refuses_a_bad_one(tmp_path):
    good = tmp_path / "phone.json"
    good.write_text(json.dumps(_good_doc()))
    results = tmp_path / "results"
    added = ingest(good, results)
    assert added.parent == results and added.name.startswith("pixel-8a-") and json.loads(added.read_text())["rows"]
    assert ingest(good, results) == added  # the same file again: no duplicate
    other = _good_doc()
    other["rows"][0]["median_ms"] = 40.0
    good.write_text(json.dumps(other))
    assert ingest(good, results).name.endswith("-2.json")

    runner = CliRunner()
    for content in ('{"rows": [', "not json at all", json.dumps({"schema_version": 1})):
        bad = tmp_path / "bad.json"
        bad.write_text(content)
        before = sorted(results.iterdir())
        result = runner.invoke(app, ["bench", "ingest", str(bad), "--results", str(results)])
        assert result.exit_code != 0
        assert result.output.strip().startswith("error: ") and len(result.output.strip().splitlines()) == 1
        assert sorted(results.iterdir()) == before  # nothing written


def test_bench_cli_prints_schema_rows(tmp_path, tiny_weights):
    result = CliRunner().invoke(
        app,
        [
            "bench",
            "--sizes",
            "16",
            "--weights",
            str(tiny_weights),
            "--tile",
            "16",
            "--device",
            "cpu",
            "--backends",
            "torch-eager",
            "--no-compile",
            "--repeats",
            "2",
            "--json",
            "--no-save",
            "--artifacts",
            str(tmp_path),
        ],
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout[result.stdout.index("{") :])
    schema.validate(doc)
    (row,) = doc["rows"]
    assert REQUIRED <= set(row) and row["status"] == "ok" and row["median_ms"] > 0
    assert doc["machine"]["peak_gmacs"]["fp32"] > 0


def test_recommendations_use_only_artifacts_that_passed_parity():
    """The fastest row is recommended only if its artifact passed its export parity; a failed or unverified one
    (no parity_status: e.g. a file from before it existed) is held back, and the table shows each status."""
    from invdn_mobile.bench.report import markdown_rows, recommendations

    def row(precision, ms, **parity):
        return {
            "backend": "litert-xnnpack",
            "format": "tflite",
            "precision": precision,
            "size": "256x256",
            "height": 256,
            "width": 256,
            "status": "ok",
            "median_ms": ms,
            "p90_ms": ms,
            "speedup_vs_torch_eager": None,
            "macs": None,
            "bytes": 1_000_000,
            "variant": "compact",
            "target": f"android-cpu-{precision}",
        } | parity

    rows = [row("fp32", 130.0, parity_status="pass"), row("int8", 80.0, parity_status="fail"), row("int8dyn", 70.0)]
    doc = results_document(rows, _machine())
    schema.validate(doc)
    (android_cpu,) = [line for line in recommendations([doc]) if line.startswith("- **Android CPU**")]
    assert "`android-cpu-fp32`" in android_cpu and "130.0 ms" in android_cpu
    doc["rows"] = rows[1:]
    (android_cpu,) = [line for line in recommendations([doc]) if line.startswith("- **Android CPU**")]
    assert "2 timed row(s), none of an artifact that passed its export parity" in android_cpu
    # no NPU results: the line names the recipes to run there, the full-integer ones that export all makes (those that
    # meet the INT8 gate), or says that none does
    (npu,) = [line for line in recommendations([doc]) if line.startswith("- **Phone NPU**")]
    shipped = [n for n, t in load_targets().items() if t.full_integer and t.in_all]
    assert all(f"`{n}`" in npu for n in shipped)
    assert bool(shipped) != ("No full-integer recipe meets the INT8 gate yet" in npu)
    assert "`android-npu-int8`" not in npu and "a16w8" not in npu  # made by name only
    table = markdown_rows(rows).splitlines()
    assert table[0].endswith("| status | parity |")
    assert [line.rsplit("|", 2)[1].strip() for line in table[2:]] == ["pass", "fail", "unverified"]
    # a recipe whose newest results file records a failed export is not recommended from an older file that passed
    old = results_document([row("int8", 60.0, parity_status="pass"), rows[0]], _machine())
    new = results_document([row("int8", 61.0, parity_status="fail")], _machine())
    old["date"], new["date"] = "2026-11-30T00:00:00Z", "2026-12-07T00:00:00Z"
    (line,) = [x for x in recommendations([old, new]) if x.startswith("- **Android CPU**")]
    assert "`android-cpu-fp32`" in line, line
    new["date"] = "2026-11-01T00:00:00Z"  # the failing file is the older one: the newer pass stands
    (line,) = [x for x in recommendations([old, new]) if x.startswith("- **Android CPU**")]
    assert "`android-cpu-int8`" in line and "60.0 ms" in line, line


def test_bench_threads_are_set_and_recorded(tmp_path, tiny_weights, photos):
    """`invdn bench --threads 1`: the PyTorch row and an artifact's runtime run on one thread, and each row says so."""
    import torch

    from invdn_mobile.bench.backends import artifact_backends

    out = tmp_path / "onnx-fp32"
    args = ["export", "--format", "onnx", "--precision", "fp32", "--tile", "16", "--no-z-variant", "-o", str(out)]
    exported = CliRunner().invoke(
        app, [*args, "--weights", str(tiny_weights), "--images", str(photos), "--set", "heldout"]
    )
    assert exported.exit_code == 0, exported.output
    (artifact,) = [b for b in artifact_backends(tmp_path, "cpu", ["custom"], threads=1) if b.target == "onnx-fp32"]
    assert artifact.backend == "onnxruntime-cpu" and artifact.threads == 1
    assert artifact.make().__self__.session.get_session_options().intra_op_num_threads == 1
    before = torch.get_num_threads()
    try:
        result = CliRunner().invoke(
            app,
            ["bench", "--sizes", "16", "--weights", str(tiny_weights), "--tile", "16", "--device", "cpu",
             "--backends", "torch-eager", "--no-compile", "--repeats", "1", "--threads", "1", "--json", "--no-save",
             "--artifacts", str(tmp_path)],
        )  # fmt: skip
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
    assert result.exit_code == 0, result.output
    (row,) = json.loads(result.stdout[result.stdout.index("{") :])["rows"]
    assert row["backend"] == "torch-eager" and row["threads"] == 1 and row["status"] == "ok"
