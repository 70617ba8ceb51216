"""Bad input to the commands: one ``error: ...`` line on stderr and a non-zero exit, never a traceback, and no work
done (nothing trained, timed or written) before the error."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from invdn_mobile.cli.main import app
from invdn_mobile.errors import InvdnError
from invdn_mobile.model import InvDN, VariantConfig
from invdn_mobile.model.checkpoint import load_weights, sidecar
from invdn_mobile.model.macs import model_macs
from invdn_mobile.noise import parse_noise

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def one_error(result, *fragments: str) -> str:
    """The single stderr line of a failed command, checked to contain every fragment."""
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and "internal error" not in result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


@pytest.fixture()
def afile(tmp_path):
    path = tmp_path / "afile"
    path.write_text("not a folder\n")
    return path


@pytest.fixture()
def photos(tmp_path, sample_clean):
    folder = tmp_path / "photos"
    folder.mkdir()
    Image.open(sample_clean / "cups.png").crop((0, 0, 64, 48)).save(folder / "cups.png")
    return folder


# --- 1, 2: invdn train --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("val_fraction = 2.0", "training config: val_fraction = 2.0: must be less than 1"),
        ("val_fraction = -1", "training config: val_fraction = -1: must be greater than or equal to 0"),
        ("val_fraction = 1", "training config: val_fraction = 1: must be less than 1"),
        ("workers = -1", "training config: workers = -1: must be greater than or equal to 0"),
        ("threads = -3", "training config: threads = -3: must be greater than or equal to 0"),
        ("warmup_steps = -1", "training config: warmup_steps = -1: must be greater than or equal to 0"),
        ("max_minutes = -1", "training config: max_minutes = -1: must be greater than 0"),
        ("max_minutes = 0", "training config: max_minutes = 0: must be greater than 0"),
        ("max_minutes = nan", "training config: max_minutes = nan: must be a finite number"),
        ("lr = nan", "training config: lr = nan: must be a finite number"),
        ("lr = inf", "training config: lr = inf: must be a finite number"),
        ("clip = -inf", "training config: clip = -inf: must be a finite number"),
        ("clip = 0", "training config: clip = 0: must be greater than 0"),
        ("scale_min = nan", "training config: scale_min = nan: must be a finite number"),
        ("lambda_forw = inf", "training config: lambda_forw = inf: must be a finite number"),
        ("lambda_back = nan", "training config: lambda_back = nan: must be a finite number"),
    ],
)
def test_train_config_values_are_checked(tmp_path, photos, text, message):
    config = tmp_path / "c.toml"
    config.write_text(text + "\n")
    result = invoke("train", "--config", config, "--data", photos, "--out", tmp_path / "run", "--device", "cpu")
    one_error(result, f"{config}: {message}")
    assert not (tmp_path / "run").exists()  # refused before anything was created


@pytest.mark.parametrize("value", ["-1", "0", "nan", "inf"])
def test_train_max_minutes_option_is_checked(tmp_path, photos, value):
    result = invoke("train", "--max-minutes", value, "--data", photos, "--out", tmp_path / "run", "--device", "cpu")
    one_error(result, "training config: max_minutes = ", ": must be")
    assert not (tmp_path / "run").exists()


def test_train_config_limits_accept_their_edges():
    from invdn_mobile.train.config import load_config

    config = load_config(None, val_fraction=0.0, workers=0, threads=0, max_minutes=0.01)
    assert (config.val_fraction, config.workers, config.threads, config.max_minutes) == (0.0, 0, 0, 0.01)


@pytest.mark.parametrize(("where", "message"), [("", "exists and is not a folder"), ("sub", "a parent of this path")])
def test_train_out_that_is_a_file(photos, afile, where, message):
    out = afile / where if where else afile
    result = invoke("train", "--data", photos, "--out", out, "--device", "cpu", "--steps", "1")
    one_error(result, f"{out}: {message}")
    assert afile.read_text() == "not a folder\n"


# --- 3: invdn bench -------------------------------------------------------------------------------------------------


def bench(tmp_path, tiny_weights, *args):
    return invoke(
        "bench",
        "--sizes",
        "16",
        "--weights",
        tiny_weights,
        "--device",
        "cpu",
        "--backends",
        "torch-eager",
        "--no-compile",
        "--artifacts",
        tmp_path,
        "--repeats",
        "1",
        "--no-save",
        *args,
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--tile", "6"], "--tile must be a multiple of 4 from 4 to 4096, got 6"),
        (["--tile", "-4"], "--tile must be a multiple of 4 from 4 to 4096, got -4"),
        (["--tile", "0"], "--tile must be a multiple of 4 from 4 to 4096, got 0"),
        (["--tile", "8192"], "--tile must be a multiple of 4 from 4 to 4096, got 8192"),
        (["--max-seconds", "nan"], "--max-seconds must be a positive number, got nan"),
        (["--max-seconds", "inf"], "--max-seconds must be a positive number, got inf"),
        (["--max-seconds", "0"], "--max-seconds must be a positive number, got 0.0"),
        (["--min-repeats", "-5"], "--min-repeats must be at least 1, got -5"),
        (["--min-repeats", "0"], "--min-repeats must be at least 1, got 0"),
        (["--repeats", "0"], "--repeats must be at least 1, got 0"),
        (["--warmup", "-1"], "--warmup must be at least 0, got -1"),
        (["--batch", "0"], "--batch must be at least 1, got 0"),
    ],
)
def test_bench_options_are_checked_before_timing(tmp_path, tiny_weights, args, message):
    one_error(bench(tmp_path, tiny_weights, *args), message)  # one line: no row was timed (each prints a line)


@pytest.mark.parametrize(
    ("out", "message"),
    [
        ("afile/x.json", "afile: exists and is not a folder"),
        ("afile/deeper/x.json", "afile/deeper: a parent of this path is a file"),
        ("adir", "is a folder; --out names the results file"),
    ],
)
def test_bench_bad_out_fails_before_timing(tmp_path, tiny_weights, afile, out, message):
    (tmp_path / "adir").mkdir()
    one_error(bench(tmp_path, tiny_weights, "--save", "--out", tmp_path / out), message)
    assert afile.read_text() == "not a folder\n"


def test_bench_results_are_written_atomically(tmp_path, afile):
    from invdn_mobile.bench.run import save

    doc = {"machine": {"name": "box"}, "rows": []}
    path = save(doc, tmp_path / "results" / "box.json")
    assert json.loads(path.read_text()) == doc
    assert [p.name for p in path.parent.iterdir()] == ["box.json"]  # no temporary file left beside it
    with pytest.raises(InvdnError, match="afile: exists and is not a folder"):
        save(doc, afile / "box.json")


# --- 4: noise specs -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("camera:iso100-0", "ISO must be from 50 to 102400, got 0"),
        ("camera:iso0", "ISO must be from 50 to 102400, got 0"),
        ("camera:iso999999", "ISO must be from 50 to 102400, got 999999"),
        ("camera:iso0.0001", "ISO must be from 50 to 102400, got 0.0001"),
        ("camera:iso3200-100", "ISO range 3200-100 is reversed"),
        ("awgn:50-5", "sigma range 50-5 is reversed"),
        ("awgn:300", "sigma must be from 0 to 255, got 300"),
        ("awgn:5-256", "sigma must be from 0 to 255, got 256"),
        ("camera+awgn:50-5", "sigma range 50-5 is reversed"),
    ],
)
def test_bad_noise_specs_are_one_line(tmp_path, photos, tiny_weights, spec, message):
    with pytest.raises(InvdnError) as err:
        parse_noise(spec)
    assert message in str(err.value) and "\n" not in str(err.value)
    result = invoke("evaluate", "--data", photos, "--noise", spec, "--weights", tiny_weights, "--baselines", "")
    one_error(result, message)


@pytest.mark.parametrize(
    "spec", ["camera:iso50", "camera:iso102400", "camera:iso100-100", "awgn:0", "awgn:255", "awgn:25-25"]
)
def test_noise_limits_are_inclusive(spec):
    assert parse_noise(spec)(torch.full((1, 3, 8, 8), 0.5), torch.Generator().manual_seed(0)).shape == (1, 3, 8, 8)


# --- 5: weights metadata and official checkpoints -------------------------------------------------------------------


@pytest.fixture()
def weights_copy(tmp_path, tiny_weights):
    path = tmp_path / "w.safetensors"
    shutil.copy(tiny_weights, path)
    shutil.copy(sidecar(tiny_weights), sidecar(path))
    return path


def _edit_sidecar(path, edit) -> None:
    meta = json.loads(sidecar(path).read_text())
    sidecar(path).write_text(json.dumps(edit(meta)))


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda m: [m], "weights metadata must be an object, got list"),
        (lambda m: "paper", "weights metadata must be an object, got str"),
        (lambda m: m | {"variant": 5}, "weights metadata: variant = 5: must be a valid string"),
        (lambda m: m | {"config": m["config"] | {"bogus": 1}}, "weights metadata: unknown key 'config.bogus'"),
        (lambda m: m | {"config": None}, "config = None: must be a valid dictionary"),
        (lambda m: m | {"config": m["config"] | {"width": 0}}, "config.width = 0: must be greater than 0"),
        (lambda m: m | {"config": m["config"] | {"blocks": "2"}}, "config.blocks = '2': must be a valid integer"),
        (lambda m: m | {"config": m["config"] | {"clamp": float("nan")}}, "config.clamp = nan: must be a finite"),
        (lambda m: m | {"z": None}, "z = None: must be a valid dictionary"),
        (lambda m: m | {"z": {"seed": "abc"}}, "z.seed = 'abc': must be a valid integer"),
        (lambda m: m | {"z": {"seed": -1}}, "z.seed = -1: must be greater than or equal to 0"),
        (lambda m: m | {"z": {"seed": 0, "scale": float("inf")}}, "z.scale = inf: must be a finite number"),
        (lambda m: m | {"z": {"seed": 0, "scale": "1"}}, "z.scale = '1': must be a valid number"),
    ],
)
def test_malformed_sidecar_is_one_line_naming_it(weights_copy, edit, message):
    _edit_sidecar(weights_copy, edit)
    one_error(invoke("info", "--weights", weights_copy, "--json"), f"{sidecar(weights_copy)}: ", message)


def test_sidecar_z_is_normalised(weights_copy):
    _edit_sidecar(weights_copy, lambda m: {k: v for k, v in m.items() if k != "z"})
    assert load_weights(weights_copy)[1]["z"] == {"seed": 0, "scale": 1.0}
    _edit_sidecar(weights_copy, lambda m: m | {"z": {"seed": 7, "scale": 2}})
    z = load_weights(weights_copy)[1]["z"]
    assert z == {"seed": 7, "scale": 2.0} and isinstance(z["scale"], float)
    sidecar(weights_copy).unlink()  # the same checks apply to the metadata in the safetensors header
    assert load_weights(weights_copy)[1]["z"] == {"seed": 0, "scale": 1.0}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ([1, 2], "not an InvDN checkpoint (expected a state dict of named tensors)"),
        (torch.zeros(3), "not an InvDN checkpoint (expected a state dict of named tensors)"),
        ({"state_dict": 5}, "not an InvDN checkpoint (expected a state dict of named tensors)"),
        ({1: torch.zeros(1)}, "not an InvDN checkpoint (expected a state dict of named tensors)"),
        ({"operations.1.F.conv1.weight": [1.0]}, "not an InvDN checkpoint (expected a state dict of named tensors)"),
        (b"\x80\x02random bytes" * 20, "not a PyTorch checkpoint ("),
        (bytes(range(256)) * 4, "not a PyTorch checkpoint ("),
        (b"", "not a PyTorch checkpoint (EOFError)"),
    ],
)
def test_malformed_official_checkpoint_is_one_line(tmp_path, content, message):
    path = tmp_path / "bad.pth"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        torch.save(content, path)
    one_error(invoke("info", "--weights", path, "--json"), f"{path}: {message}")


# --- 6: invdn info ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "config", [VariantConfig(scales=2, blocks=1, width=8), VariantConfig(scales=3, blocks=1, width=8)], ids=["2", "3"]
)
def test_macs_are_exactly_proportional_to_pixels(config):
    """What `invdn info` relies on to count once at 64x64 and scale: the network is fully convolutional (any width or
    depth; tiny ones keep this fast)."""
    model = InvDN(config)
    small, large = model_macs(model, 64, 64), model_macs(model, 128, 96)
    assert small.keys() == large.keys() == {"forward", "reverse", "denoiser"}
    for key in small:
        assert small[key] * 128 * 96 == large[key] * 64 * 64, key


def test_info_macs_are_counted_once_and_scaled(tiny_weights):
    def info(*args) -> dict:
        result = invoke("info", "--json", *args)
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)["macs"]

    model, _ = load_weights(tiny_weights)
    assert info("--weights", tiny_weights, "--size", "128x96") == model_macs(model, 128, 96)  # as counted before
    huge = info("--weights", tiny_weights, "--size", "16384")  # was OOM-killed (the model ran at that size)
    assert huge == {k: v * 256 * 256 for k, v in model_macs(model, 64, 64).items()}
    assert info("--variant", "compact") == {"forward": 3743170560, "reverse": 3743170560, "denoiser": 7287644160}
    one_error(invoke("info", "--size", "16388"), "sides from 1 to 16384")


# --- 7: invdn evaluate ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--limit", "-2"], "--limit must be at least 1, got -2"),
        (["--limit", "-1"], "--limit must be at least 1, got -1"),
        (["--limit", "0"], "--limit must be at least 1, got 0"),
        (["--samples", "0"], "--samples must be at least 1, got 0"),
        (["--samples", "-3"], "--samples must be at least 1, got -3"),
        (["--variants", ","], "--variants ',': name at least one variant"),
        (["--variants", ""], "--variants '': name at least one variant"),
        (["--variants", "compact", "--limit", "0"], "--limit must be at least 1, got 0"),
        (["--z-scale", "-0.5"], "--z-scale must be a finite number >= 0, got -0.5"),
        (["--z-scale", "nan"], "--z-scale must be a finite number >= 0, got nan"),
    ],
)
def test_evaluate_options_are_checked(photos, tiny_weights, args, message):
    result = invoke("evaluate", "--data", photos, "--noise", "awgn:25", "--weights", tiny_weights, *args)
    one_error(result, message)
    assert result.stdout == ""


def test_evaluate_limit_keeps_the_first_photos(photos):
    from invdn_mobile.evaluate.run import evaluate

    Image.open(photos / "cups.png").save(photos / "more.png")
    rows = evaluate(photos, ["awgn:25"], limit=1)
    assert [r.images for r in rows] == [1]
    assert [r.images for r in evaluate(photos, ["awgn:25"])] == [2]


# --- failed runs leave no empty output folders -------------------------------------------------------------------


def test_output_dir_removes_only_the_empty_folders_it_made(tmp_path):
    from invdn_mobile.atomic import output_dir

    with pytest.raises(RuntimeError), output_dir(tmp_path / "a" / "b" / "c"):
        raise RuntimeError("the command failed")
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(RuntimeError), output_dir(tmp_path / "a" / "b") as out:
        (out / "written.txt").write_text("kept")
        raise RuntimeError("failed after writing")
    assert (tmp_path / "a" / "b" / "written.txt").read_text() == "kept"
    with output_dir(tmp_path / "ok") as out:
        pass
    assert out.is_dir()


def test_failed_commands_leave_no_empty_folder(tmp_path, tiny_weights):
    empty = tmp_path / "empty"
    empty.mkdir()
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    denoised = invoke("denoise", broken, "-o", tmp_path / "out" / "denoised", "--weights", tiny_weights)
    assert denoised.exit_code == 1 and "broken.png" in denoised.stderr
    trained = invoke("train", "--data", empty, "--out", tmp_path / "runs" / "r1", "--device", "cpu", "--steps", "1")
    assert trained.exit_code == 2 and "Traceback" not in trained.output
    exported = invoke(
        "export", "--format", "onnx", "--precision", "fp32", "--weights", tiny_weights, "--images", empty,
        "-o", tmp_path / "export" / "onnx",
    )  # fmt: skip
    assert exported.exit_code == 2 and "Traceback" not in exported.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.png", "empty"]
