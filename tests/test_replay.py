"""The replay vectors in golden/replay/ (a real TFLite artifact's tiles on a sample photo, which the Android core
replays): not stale, and right by checks that do not trust the file — the photo re-cut from the sample, the weights
and curve of the bundled compact model, every recorded output recomputed by the PyTorch model, and the whole document
regenerated from the recorded outputs by the current tiler, strength code and PNG encoder."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from invdn_mobile.export.manifest import sha256
from invdn_mobile.golden import (
    REPLAY_INT8_TARGET,
    REPLAY_TILE,
    REPLAY_VARIANT,
    decode_f32,
    decode_i8,
    decode_u8,
    dump_golden,
    replay_doc,
    replay_photo,
)
from invdn_mobile.model import Denoiser
from invdn_mobile.model.checkpoint import default_weights, load_weights, read_meta
from invdn_mobile.tiling import tiling_spec

REPLAY = Path(__file__).resolve().parent.parent / "golden" / "replay"
REPLAY_INT8 = REPLAY.parent / "replay-int8"  # the int8-I/O NPU file's replay (android-npu-int8-s16-io)


@pytest.fixture(scope="module")
def committed():
    doc = json.loads((REPLAY / "replay.json").read_text())
    (entry,) = json.loads((REPLAY / "manifest.json").read_text())["artifacts"]
    return doc, entry


def test_the_artifact_was_exported_from_the_bundled_weights_and_passed_its_gate(committed):
    doc, entry = committed
    weights = default_weights(REPLAY_VARIANT)
    assert entry["weights"]["sha256"] == sha256(weights), "bundled weights changed: run `invdn golden`"
    assert doc["artifact"]["weights_sha256"] == entry["weights"]["sha256"]
    assert doc["artifact"]["sha256"] == entry["sha256"] and doc["artifact"]["file"] == entry["file"]
    assert entry["strength"] == read_meta(weights)["strength"], "the weights' strength curve changed: `invdn golden`"
    assert entry["tiling"] == tiling_spec(REPLAY_TILE)
    assert (entry["format"], entry["precision"], entry["layout"]) == ("tflite", "fp32", "NHWC")
    assert entry["gate"]["passed"] and entry["parity"]["max_abs_err"] <= 1e-4


def test_the_recorded_outputs_are_the_pytorch_model_on_the_recorded_inputs(committed):
    """Independent of LiteRT: the bundled compact weights in PyTorch, the manifest's z seed and scale."""
    doc, entry = committed
    model, meta = load_weights(default_weights(REPLAY_VARIANT), REPLAY_VARIANT)
    t = entry["tile"][0]
    denoiser = Denoiser(model, tile=(t, t), seed=entry["z"]["seed"], z_scale=entry["z"]["scale"]).eval()
    inputs = np.stack([decode_f32(c["input"], (t, t, 3)) for c in doc["cases"]])
    outputs = np.stack([decode_f32(c["output"], (t, t, 3)) for c in doc["cases"]])
    with torch.inference_mode():
        expected = denoiser(torch.from_numpy(inputs.transpose(0, 3, 1, 2).copy())).numpy().transpose(0, 2, 3, 1)
    err = float(np.abs(outputs - expected).max())
    assert err <= 1e-5, f"recorded LiteRT outputs differ from PyTorch by {err:.2e}"
    assert float(np.abs(outputs - inputs).max()) > 0.05  # the model changed the tiles (not an identity)


def test_the_document_is_what_the_current_code_makes_of_the_recorded_outputs(committed):
    """Regenerate replay.json with the recorded outputs in place of LiteRT: the photo (re-cut from the sample and
    turned upright by the package's reader), every input tile, sigma, strength, float result and 8-bit PNG must be
    what the file says, to the byte."""
    doc, entry = committed
    stored, photo = replay_photo()
    t = entry["tile"][0]
    outputs = iter(decode_f32(c["output"], (t, t, 3)) for c in doc["cases"])

    def replay(batch: np.ndarray) -> np.ndarray:
        return next(outputs).transpose(2, 0, 1)[None].copy()

    regenerated = dump_golden(replay_doc(stored, photo, entry, replay))
    assert regenerated == (REPLAY / "replay.json").read_text(), "golden/replay/replay.json is stale: `invdn golden`"


def test_the_photo_is_turned_upright_as_exif_orientation_6_says(committed):
    """Orientation 6 by hand: the upright photo's row i is the stored column i read bottom to top."""
    doc, _ = committed
    ph = doc["photo"]
    stored = decode_u8(ph["rgb8"], (ph["stored_height"], ph["stored_width"], 3))
    upright = np.array(
        [
            [stored[ph["stored_height"] - 1 - j, i] for j in range(ph["stored_height"])]
            for i in range(ph["stored_width"])
        ]
    )
    _, photo = replay_photo()
    assert (ph["height"], ph["width"]) == upright.shape[:2] == photo.rgb.shape[:2]
    np.testing.assert_array_equal(np.round(photo.rgb * 255).astype(np.uint8), upright)
    rgb8 = decode_u8(doc["result"]["rgb8"], (ph["height"], ph["width"], 3))
    result = decode_f32(doc["result"]["float"], (ph["height"], ph["width"], 3))
    np.testing.assert_array_equal(rgb8, np.round(np.clip(result, 0, 1) * np.float32(255)).astype(np.uint8))
    assert 0 < doc["strength"] < 1 and doc["plan"]["tiles"] == len(doc["cases"]) == 6


def test_the_golden_command_writes_the_replay_vectors_again(tmp_path, committed):
    """`invdn golden`'s replay half end to end (a real export and LiteRT run, ~40 s): same artifact entry and inputs as
    the committed file, outputs within LiteRT's float noise of it (kernels differ between CPUs)."""
    from invdn_mobile.golden import write_replay

    doc, entry = committed
    written = write_replay(tmp_path, log=lambda _: None)
    assert sorted(p.name for p in written) == ["manifest.json", "replay.json"]
    new = json.loads((tmp_path / "replay.json").read_text())
    (new_entry,) = json.loads((tmp_path / "manifest.json").read_text())["artifacts"]
    assert new_entry["weights"] == entry["weights"] and new_entry["gate"]["passed"]
    t = entry["tile"][0]
    assert [c["input"] for c in new["cases"]] == [c["input"] for c in doc["cases"]]
    for a, b in zip(new["cases"], doc["cases"]):
        err = float(np.abs(decode_f32(a["output"], (t, t, 3)) - decode_f32(b["output"], (t, t, 3))).max())
        assert err <= 1e-5, f"replayed output differs from the committed one by {err:.2e}"


# ---- golden/replay-int8/: the NPU file with int8 input and output ----


@pytest.fixture(scope="module")
def committed_int8():
    doc = json.loads((REPLAY_INT8 / "replay.json").read_text())
    (entry,) = json.loads((REPLAY_INT8 / "manifest.json").read_text())["artifacts"]
    return doc, entry


def _dequantized(case: dict, key: str, spec: dict, t: int) -> np.ndarray:
    codes = decode_i8(case[key], (t, t, 3)).astype(np.float32)
    return ((codes - spec["zero_point"]) * spec["scale"]).astype(np.float32)


def test_the_int8_replay_comes_from_the_npu_recipe_the_bundled_weights_and_passed_its_gate(committed_int8):
    doc, entry = committed_int8
    stale = "bundled weights changed: `invdn golden`"
    assert entry["weights"]["sha256"] == sha256(default_weights(REPLAY_VARIANT)), stale
    assert doc["artifact"]["target"] == REPLAY_INT8_TARGET and doc["artifact"]["sha256"] == entry["sha256"]
    assert entry["tiling"] == tiling_spec(REPLAY_TILE) and entry["gate"]["passed"]
    assert (entry["format"], entry["precision"], entry["accelerators"]) == ("tflite", "int8", ["cpu", "npu"])
    for spec in (entry["inputs"][0], entry["outputs"][0]):  # code = 8-bit pixel - 128
        assert (spec["dtype"], spec["zero_point"]) == ("int8", -128) and spec["scale"] == pytest.approx(1 / 255)


def test_the_int8_codes_are_the_photos_pixels_and_the_outputs_are_close_to_pytorch(committed_int8):
    """Independent of LiteRT and of the recorder: each input tile's codes are the upright photo's 8-bit pixels - 128
    (mirror-padded at the plan's origin), and the dequantized outputs are the PyTorch compact model's within the
    int8 file's error (PSNR >= 40 dB; its parity gate measured 45.9 dB)."""
    doc, entry = committed_int8
    _, photo = replay_photo()
    pixels = np.round(photo.rgb * 255).astype(np.int16)
    t = entry["tile"][0]
    h, w = pixels.shape[:2]
    padded = np.pad(pixels, ((0, max(0, t - h)), (0, max(0, t - w)), (0, 0)), mode="symmetric")
    for case in doc["cases"]:
        codes = decode_i8(case["input_int8"], (t, t, 3)).astype(np.int16)
        np.testing.assert_array_equal(codes + 128, padded[case["y"] : case["y"] + t, case["x"] : case["x"] + t])
    model, _ = load_weights(default_weights(REPLAY_VARIANT), REPLAY_VARIANT)
    denoiser = Denoiser(model, tile=(t, t), seed=entry["z"]["seed"], z_scale=entry["z"]["scale"]).eval()
    inputs = np.stack([_dequantized(c, "input_int8", entry["inputs"][0], t) for c in doc["cases"]])
    outputs = np.stack([_dequantized(c, "output_int8", entry["outputs"][0], t) for c in doc["cases"]])
    with torch.inference_mode():
        expected = denoiser(torch.from_numpy(inputs.transpose(0, 3, 1, 2).copy())).numpy().transpose(0, 2, 3, 1)
    psnr = 10 * np.log10(1 / float(np.mean((outputs - np.clip(expected, 0, 1)) ** 2)))
    assert psnr >= 40, f"int8 outputs are {psnr:.1f} dB from PyTorch"
    assert float(np.abs(outputs - inputs).max()) > 0.05  # the model changed the tiles


def test_the_int8_document_is_what_the_current_code_makes_of_the_recorded_codes(committed_int8):
    doc, entry = committed_int8
    stored, photo = replay_photo()
    t = entry["tile"][0]
    outputs = iter(_dequantized(c, "output_int8", entry["outputs"][0], t) for c in doc["cases"])

    def replay(batch: np.ndarray) -> np.ndarray:
        return next(outputs).transpose(2, 0, 1)[None].copy()

    regenerated = dump_golden(replay_doc(stored, photo, entry, replay, REPLAY_INT8_TARGET))
    assert regenerated == (REPLAY_INT8 / "replay.json").read_text(), "golden/replay-int8/replay.json is stale"
