"""The web demo in a real browser: `invdn web` serves the page and a small-tile FP32 export, headless Debian Chromium
(driven by playwright-core from web_demo/tests/run.mjs) loads it, checks the JS tiling against the golden vectors,
denoises a photo end to end, loads broken files and runs the benchmark mode; the numbers are compared here with the
Python package's own (ONNX Runtime through invdn_mobile.tiling)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import require_part
from PIL import Image
from typer.testing import CliRunner

from invdn_mobile import web
from invdn_mobile.cli.main import app
from invdn_mobile.model.checkpoint import default_weights, read_meta
from invdn_mobile.tiling import plan, run_tiled, tiling_spec

ROOT = Path(__file__).resolve().parent.parent
WEB_DEMO = ROOT / "web_demo"
GOLDEN = ROOT / "golden" / "tiling"
CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
TILE = 64  # small tiles: a 150x200 photo takes 12 of them, and the export takes seconds
PHOTO_SIZE = (150, 200)  # height, width
WEBGPU_MAX_ERR = 1e-4  # the FP32 gate: SwiftShader computes the WebGPU shaders in FP32
runner = CliRunner()


def _packages_missing(packages=("onnxruntime-web",)) -> str | None:
    for package in packages:
        if not (WEB_DEMO / "node_modules" / package).is_dir():
            return f"web_demo/node_modules/{package} is missing (npm ci --prefix web_demo)"
    return None


def _browser_missing() -> str | None:
    if not CHROMIUM.is_file():
        return f"{CHROMIUM} is missing (apt-get install chromium)"
    if not shutil.which("node"):
        return "node is missing"
    return _packages_missing(("playwright-core", "onnxruntime-web"))


@pytest.fixture(scope="module")
def exported(tmp_path_factory, sample_clean):
    """The web-fp32 recipe exported at tile 64 into a temporary export root (parity on two small crops)."""
    photos = tmp_path_factory.mktemp("web-parity-photos")
    for p in sorted(sample_clean.iterdir())[:2]:
        Image.open(p).crop((100, 100, 200, 180)).save(photos / p.name)
    root = tmp_path_factory.mktemp("web-export")
    (target,) = web.web_targets(["web-fp32"])
    model = web.ensure_exported(target, TILE, None, root, images=photos, log=lambda msg: None, sets=("heldout",))
    assert model is not None, "the FP32 web export failed its parity gate"
    return root, model


@pytest.fixture(scope="module")
def site(exported, tmp_path_factory):
    require_part("browser", _browser_missing())
    _, model = exported
    folder = web.build_site([model], tmp_path_factory.mktemp("web") / "site")
    server = web.serve(folder, port=0)
    yield web.url_of(server), folder, model
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def browser(site, tmp_path_factory, sample_noisy, sample_clean):
    """One browser session running every check; its report and files."""
    require_part("browser", _browser_missing())
    url, folder, model = site
    work = tmp_path_factory.mktemp("browser")
    h, w = PHOTO_SIZE
    photo = work / "cups.png"
    Image.open(sample_noisy / "cups.png").convert("RGB").crop((100, 50, 100 + w, 50 + h)).save(photo)
    calm = work / "calm.png"  # a clean photo: little noise, so the strength curve blends
    Image.open(sample_clean / "cups.png").convert("RGB").crop((100, 50, 100 + w, 50 + h)).save(calm)
    corrupt = work / "truncated.png"
    data = photo.read_bytes()
    corrupt.write_bytes(data[: len(data) // 2])
    notimage = work / "notes.png"
    notimage.write_text("not an image\n")
    out = work / "out"
    cmd = [
        "node",
        str(WEB_DEMO / "tests" / "run.mjs"),
        "--url",
        url,
        "--golden",
        str(GOLDEN),
        "--photo",
        str(photo),
        "--calm",
        str(calm),
        "--corrupt",
        str(corrupt),
        "--notimage",
        str(notimage),
        "--out",
        str(out),
        "--bench",
        f"sizes={TILE},96x160&repeats=2&warmup=1&models=fp32,fp16,int8&backends=wasm,webgpu",
    ]
    proc = subprocess.run(
        cmd, capture_output=True, text=True, timeout=900, env=os.environ | {"CHROMIUM": str(CHROMIUM)}
    )
    assert (out / "report.json").is_file(), proc.stdout + proc.stderr
    report = json.loads((out / "report.json").read_text())
    assert not report.get("fatal"), report["fatal"]
    return report, out, photo, folder, model, calm


def test_manifest_entry_records_the_tiling(site):
    _, folder, model = site
    (entry,) = json.loads((folder / "manifest.json").read_text())["artifacts"]
    assert entry["tiling"] == tiling_spec(TILE) == model.entry["tiling"]
    assert entry["tiling"]["overlap"] == 16 and entry["tiling"]["multiple"] == 4
    assert entry["path"] == f"models/{entry['file']}" and (folder / entry["path"]).is_file()
    assert entry["target"] == "web-fp32" and entry["precision"] == "fp32" and not entry["z"]["as_input"]
    assert {p.name for p in (folder / "ort").iterdir()} == set(web.ORT_FILES)
    assert entry["strength"] == read_meta(default_weights("compact"))["strength"]  # the apps' strength curve


def test_server_sends_isolation_headers_and_types(site):
    import urllib.request

    url, _, model = site
    for path, mime in [
        ("", "text/html"),
        ("app.js", "text/javascript"),
        ("ort/ort.wasm.min.mjs", "text/javascript"),
        ("ort/ort-wasm-simd-threaded.wasm", "application/wasm"),
        (f"models/{model.path.name}", "application/octet-stream"),
        ("manifest.json", "application/json"),
    ]:
        with urllib.request.urlopen(url + path) as response:
            headers = response.headers
        assert headers["Cross-Origin-Opener-Policy"] == "same-origin"
        assert headers["Cross-Origin-Embedder-Policy"] == "require-corp"
        assert headers["Content-Type"].startswith(mime), path


def test_page_loads_isolated_without_errors(browser):
    report = browser[0]
    assert report["load"]["state"] == "ready" and report["load"]["error"] is None
    assert report["load"]["crossOriginIsolated"] is True  # COOP/COEP: WASM threads
    assert [m["precision"] for m in report["load"]["models"]] == ["fp32"]
    assert report["pageErrors"] == []
    assert report["consoleErrors"] == []  # the page logs no error, also while it handles the broken files


def test_js_tiling_equals_the_golden_vectors(browser):
    g = browser[0]["golden"]
    plans = json.loads((GOLDEN / "plans.json").read_text())["cases"]
    assert g["plans"] == len(plans) and g["planMismatches"] == []  # rectangles: exactly equal
    assert g["windowMaxErr"] <= 1e-12
    assert len(g["padding"]) == 4 and all(c["maxErr"] == 0 for c in g["padding"])
    assert len(g["blend"]) == 4
    for case in g["blend"]:
        assert case["tiles"] == case["expectedTiles"]
        assert case["maxErr"] <= 1e-6 and case["streamedMaxErr"] <= 1e-6, case
    strength = json.loads((GOLDEN / "strength.json").read_text())
    st = g["strength"]
    assert st["sigmaCases"] == len(strength["cases"]) == 6 and st["blendCases"] == 3
    assert st["sigmaMaxErr"] <= strength["tolerance"]["sigma"]
    assert st["curveMaxErr"] <= strength["tolerance"]["strength"]
    assert st["blendMaxErr"] <= strength["tolerance"]["blend"]


def _python_output(photo, folder, model, page):
    """What the page must show for ``photo``: the tiled Python ONNX Runtime output, blended by the manifest's strength
    curve at the photo's estimated sigma (checked against the page's own sigma and strength)."""
    from invdn_mobile.imageio import read_image
    from invdn_mobile.runtimes.onnxrt import OrtRunner
    from invdn_mobile.strength import StrengthCurve, blend, estimate_sigma

    h, w = PHOTO_SIZE
    spec = model.entry["tiling"]
    p = plan(h, w, spec["tile"], spec["overlap"], spec["multiple"])
    assert page["tiles"] == len(p) == 12
    rgb = read_image(photo).rgb
    curve = StrengthCurve.from_dict(model.entry["strength"], "manifest")
    sigma = estimate_sigma(rgb)
    assert abs(page["sigma"] - sigma) <= 1e-3
    assert page["strength"] == pytest.approx(curve(page["sigma"]), abs=1e-9)
    return rgb, blend(rgb, run_tiled(rgb, OrtRunner(folder / "models" / model.path.name).run, p), curve(sigma))


def test_photo_matches_python_onnxruntime_within_the_fp32_gate(browser):
    report, out, photo, folder, model, _ = browser
    page = report["photo"]
    assert page["state"] == "done" and page["error"] is None, page
    h, w = PHOTO_SIZE
    assert (page["height"], page["width"]) == (h, w) and page["backend"] == "wasm"
    assert page["backendInfo"]["threads"] >= 1 and page["backendInfo"]["crossOriginIsolated"]
    assert page["download"]
    got = np.fromfile(out / "output.f32", dtype="<f4").reshape(h, w, 3)
    rgb, expected = _python_output(photo, folder, model, page)
    err = float(np.abs(got - expected).max())
    assert err <= 1e-4, f"page vs Python ONNX Runtime: max abs error {err:.2e}"
    assert float(np.abs(got - rgb).mean()) > 1e-3  # it did denoise
    assert page["strength"] > 0.8  # a noisy photo: (nearly) the model's output


def _webgpu_output(browser):
    report, out, photo, folder, model, _ = browser
    page = report["photoWebgpu"]
    assert page["state"] == "done" and page["error"] is None, page
    assert page["backend"] == "webgpu" and page["backendInfo"]["gpu"]["architecture"] == "swiftshader", page
    h, w = PHOTO_SIZE
    return np.fromfile(out / "output-webgpu.f32", dtype="<f4").reshape(h, w, 3), page


def test_webgpu_runs_on_swiftshader(browser):
    """The WebGPU backend gets an adapter here: headless Chromium's software GPU (SwiftShader, a Vulkan on the CPU,
    with --enable-unsafe-webgpu), and denoises the photo through onnxruntime-web's WebGPU kernels."""
    got, page = _webgpu_output(browser)
    assert np.isfinite(got).all() and page["tiles"] == 12
    assert page["backendInfo"]["gpu"]["shaderF16"] is False  # SwiftShader has no shader-f16: FP32 shaders


def test_webgpu_on_swiftshader_matches_python_onnxruntime(browser):
    """The same photo through WebGPU on SwiftShader against native ONNX Runtime, bounded like the FP32 gate: the
    WebGPU path's shaders compute the model (not a phone GPU's speed or FP16 arithmetic). The worker asks for the
    NCHW layout: onnxruntime-web's default NHWC Conv gave 0.86 here (a 3x3 Conv over 9 channels; docs/web.md)."""
    report, _, photo, folder, model, _ = browser
    got, page = _webgpu_output(browser)
    rgb, expected = _python_output(photo, folder, model, page)
    err = float(np.abs(got - expected).max())
    assert err <= WEBGPU_MAX_ERR, f"WebGPU page vs Python ONNX Runtime: max abs error {err:.2e}"


def test_calm_photo_is_blended_by_the_weights_strength_curve(browser):
    """A photo with little noise: the page keeps only part of the model's change, as the manifest's curve says (the
    bundled compact weights are calibrated), and says so."""
    report, out, _, folder, model, calm = browser
    page = report["calm"]
    assert page["state"] == "done" and page["error"] is None, page
    assert page["strength"] < 0.5 and page["strength"] < report["photo"]["strength"] - 0.3
    assert f"kept {round(page['strength'] * 100)}% of the model's change" in page["status"]
    h, w = PHOTO_SIZE
    got = np.fromfile(out / "output-calm.f32", dtype="<f4").reshape(h, w, 3)
    _, expected = _python_output(calm, folder, model, page)
    err = float(np.abs(got - expected).max())
    assert err <= 1e-4, f"page vs Python blend of ONNX Runtime: max abs error {err:.2e}"


def test_cancel_stops_a_run_and_says_so(browser):
    cancel = browser[0]["cancel"]
    assert cancel == {"state": "cancelled", "status": "Cancelled.", "progressHidden": True}


def test_broken_files_show_an_error_and_do_not_crash(browser):
    report = browser[0]
    truncated, notimage = report["bad"]
    assert "truncated PNG" in truncated["shown"]
    assert "not an image" in notimage["shown"]
    assert report["aliveAfterBad"] and report["pageErrors"] == []


def test_benchmark_mode_writes_schema_valid_results(browser):
    from invdn_mobile.bench.schema import validate

    report, out, _, _, model, _ = browser
    assert report["bench"]["error"] is None
    doc = validate(json.loads((out / "bench.json").read_text()), "bench.json")
    assert doc["source"] == "web_demo" and doc["machine"]["kind"] == "browser"
    assert doc["machine"]["name"].startswith("chromium-") and doc["machine"]["libraries"]["onnxruntime-web"]
    rows = {(r["backend"], r["precision"], r["size"]): r for r in doc["rows"]}
    assert len(rows) == len(doc["rows"]) == 2 * 3 * 2  # backends x models x sizes, failures included
    for size, tiles in ((f"{TILE}x{TILE}", 1), ("96x160", 6)):
        ok = rows[("ort-web-wasm", "fp32", size)]
        assert ok["status"] == "ok" and ok["format"] == "onnx" and ok["device"] == "wasm"
        assert ok["tiles"] == tiles and ok["macs"] == model.entry["macs"]["graph"] * tiles
        assert ok["bytes"] == model.entry["bytes"] and ok["variant"] == model.entry["variant"]
        assert 0 < ok["min_ms"] <= ok["median_ms"] <= ok["p90_ms"] and ok["repeats"] == 2
        assert ok["speedup_vs_torch_eager"] is None and ok["speedup_vs_fp32"] == 1.0
        # no fp16/int8 artifact was served: rows say so instead of being missing
        assert rows[("ort-web-wasm", "int8", size)]["status"] == "skipped"
        assert "no int8" in rows[("ort-web-wasm", "int8", size)]["error"]
        gpu = rows[("ort-web-webgpu", "fp32", size)]  # SwiftShader's adapter (--enable-unsafe-webgpu)
        assert gpu["status"] == "ok" and gpu["device"] == "webgpu" and gpu["tiles"] == tiles, gpu


def test_screenshot_shows_the_before_after_view(browser):
    out = browser[1]
    shot = np.asarray(Image.open(out / "screenshot.png").convert("RGB"), dtype=np.float32)
    assert shot.shape == (820, 1100, 3)
    viewer = shot[200:700, 200:900]  # the photo is drawn there
    assert viewer.std() > 10


# ---- the command line (no browser needed)


def test_web_command_rejects_bad_options(tmp_path):
    result = runner.invoke(app, ["web", "--port", "70000"])
    assert result.exit_code == 2 and result.stderr.strip() == "error: --port must be in 0..65535, got 70000"
    result = runner.invoke(app, ["web", "--target", "android-cpu-fp32", "--no-serve"])
    assert result.exit_code == 2 and "runs ONNX targets only" in result.stderr
    result = runner.invoke(app, ["web", "--target", "nope", "--no-serve"])
    assert result.exit_code == 2 and "unknown target 'nope'" in result.stderr
    result = runner.invoke(app, ["web", "--tile", "30", "--no-serve"])
    assert result.exit_code == 2 and "--tile must be a multiple of 4 from 4 to 4096, got 30" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_web_command_says_how_to_install_onnxruntime_web(tmp_path, monkeypatch):
    demo = tmp_path / "web_demo"
    demo.mkdir()
    (demo / "index.html").write_text("<!doctype html>")
    monkeypatch.setattr(web, "WEB_DEMO", demo)
    result = runner.invoke(app, ["web", "--no-serve", "-o", str(tmp_path / "site")])
    assert result.exit_code == 2
    assert result.stderr.strip().endswith("(onnxruntime-web is not installed): run `npm ci --prefix web_demo`")
    assert not (tmp_path / "site").exists()


def test_web_command_reuses_the_export_serves_and_stops_on_ctrl_c(exported, tmp_path):
    require_part("browser", _packages_missing())  # the site is assembled with onnxruntime-web's files
    root, model = exported
    shutil.copytree(root / "web-fp32", tmp_path / "export" / "out" / "web-fp32")
    cmd = [sys.executable, "-m", "invdn_mobile", "web", "--target", "web-fp32", "--tile", str(TILE), "--port", "0"]
    # Ctrl-C as in a terminal: a test run started in the background has SIGINT ignored, which the server would
    # inherit; a handler set here is reset to the default in the child at exec (no preexec_fn: it forks with threads)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        proc = subprocess.Popen(cmd, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    finally:
        signal.signal(signal.SIGINT, previous)
    try:
        lines = []
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if line.startswith("serving "):
                break
        assert lines and lines[-1].startswith("serving http://127.0.0.1:"), "".join(lines) + proc.stderr.read()
        assert any("reusing" in line for line in lines)  # same weights and tile: no new export
        url = lines[-1].split()[1]
        import urllib.request

        with urllib.request.urlopen(url + "manifest.json") as response:
            served = json.loads(response.read())
        assert [e["file"] for e in served["artifacts"]] == [model.path.name]
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, stderr
    assert stdout.strip().endswith("stopped") and "Traceback" not in stderr
    assert (tmp_path / "export" / "out" / "web-site" / "index.html").is_file()
