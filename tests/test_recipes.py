"""Typed recipes (invdn_mobile/export/targets.py): every shipped recipe loads; a recipe with an unknown key, a value
of the wrong type, or an option its format's exporter does not read is refused with one line naming the file, the
key and the reason — through `invdn export` too, before any work."""

from __future__ import annotations

import shutil

import pytest
from typer.testing import CliRunner

from invdn_mobile.cli.main import app
from invdn_mobile.errors import InvdnError
from invdn_mobile.export import targets
from invdn_mobile.export.registry import FORMATS, ExportOptions

BASE = 'format = "onnx"\nprecision = "int8"\nvariant = "compact"\n'


def _load(tmp_path, text: str, name: str = "r"):
    (tmp_path / f"{name}.toml").write_text(text)
    return targets.load_targets(tmp_path)


def test_shipped_recipes_load_and_only_set_options_their_format_reads():
    loaded = targets.load_targets()
    assert len(loaded) >= 20
    for t in loaded.values():
        reads = set(FORMATS[t.format].options) | set(targets._COMMON) | {"keep_float_from"}
        assert t.model_fields_set <= reads, (t.name, t.model_fields_set - reads)
        assert isinstance(t.options(t.variant), ExportOptions)
        assert t.in_all or len(t.left_out) > 20, t.name  # a recipe left out of `export all` says why
    # one list, one search: web-int8 shares onnx-int8's (the same graph and quantizer)
    assert loaded["web-int8"].keep_float == loaded["onnx-int8"].keep_float
    assert len(loaded["web-int8"].options("compact").keep_float) > 5


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('keep_float = "model.scales"\n', "keep_float = 'model.scales': must be a valid list"),
        ('in_all = "no"\n', "in_all = 'no': must be a valid boolean"),
        ("tile = 250\n", "tile = 250: must be a multiple of 4"),
        ("tile = true\n", "tile = True: must be a valid integer"),
        ("bogus = 1\n", "unknown key 'bogus'"),
        ('name = "x"\n', "unknown key 'name'"),
        ("integer_io = true\n", "integer_io: the onnx exporter does not read it"),
        ("cpu_only = true\n", "cpu_only: the onnx exporter does not read it"),
        ("full_integer = true\nactivation_bits = 12\n", "activation_bits = 12: must be 8 or 16"),
        ("equalize = true\n", "equalize: needs full_integer = true"),
        ('variants = ["compact"]\n', "give variant or variants, not both"),
        ('keep_float = {huge = ["a"]}\n', "keep_float: unknown variants ['huge']"),
        ("in_all = false\n", "in_all = false needs left_out"),
        ('left_out = "slow"\n', "left_out is for a recipe with in_all = false"),
    ],
)
def test_a_bad_recipe_is_one_line_naming_file_key_and_reason(tmp_path, text, message):
    with pytest.raises(InvdnError) as info:
        _load(tmp_path, BASE + text)
    line = str(info.value)
    assert "\n" not in line and line.startswith(str(tmp_path / "r.toml")), line
    assert message in line, line


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('format = "coreml"\nprecision = "int8"\nkeep_float = ["a"]\n', "keep_float: the coreml exporter does not"),
        ('format = "onnx"\nprecision = "fp16"\nreduce_range = true\n', "reduce_range: only for an INT8 export"),
        ('format = "onnx"\nprecision = "fp16"\nsplit_concats = true\n', "split_concats: only for an INT8 export"),
        ('format = "tflite"\nprecision = "int8w"\nkeep_float = ["a"]\n', "keep_float: only for an INT8"),
        ('format = "tflite"\nprecision = "fp32"\nvariant = "tiny"\n', "unknown variants ['tiny']"),
        ('format = "tflite"\nprecision = "int4"\n', "format tflite has no precision 'int4'"),
        ('format = "jpeg"\nprecision = "fp32"\n', "unknown format 'jpeg'"),
    ],
)
def test_options_are_checked_against_the_format(tmp_path, text, message):
    with pytest.raises(InvdnError, match=message.replace("[", r"\[").replace("]", r"\]")):
        _load(tmp_path, text)


def test_keep_float_from_must_name_a_recipe_of_the_same_format_with_its_own_list(tmp_path):
    _load(tmp_path, BASE + 'keep_float = ["model.scales.1"]\n', "a")
    loaded = _load(tmp_path, BASE + 'keep_float_from = "a"\n', "b")
    assert loaded["b"].options("compact").keep_float == ("model.scales.1",)
    with pytest.raises(InvdnError, match="b.toml: keep_float_from = 'c': must name a recipe of the same format"):
        _load(tmp_path, BASE + 'keep_float_from = "c"\n', "b")
    with pytest.raises(InvdnError, match="give keep_float or keep_float_from, not both"):
        _load(tmp_path, BASE + 'keep_float_from = "a"\nkeep_float = ["x"]\n', "b")


def test_invdn_export_refuses_a_bad_shipped_recipe_before_any_work(tmp_path, monkeypatch):
    folder = tmp_path / "targets"
    shutil.copytree(targets.TARGETS_DIR, folder)
    (folder / "onnx-fp32.toml").write_text((folder / "onnx-fp32.toml").read_text() + "integer_io = true\n")
    monkeypatch.setattr(targets, "TARGETS_DIR", folder)
    monkeypatch.setattr(targets.load_targets, "__defaults__", (folder,))
    result = CliRunner().invoke(app, ["export", "onnx-fp32", "-o", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        f"error: {folder / 'onnx-fp32.toml'}: recipe: integer_io: the onnx exporter does not read it (it reads: "
        "keep_float, full_integer, activation_bits, state_bits, equalize, sub_free, split_concats, reduce_range, "
        "keep_float_from)"
    )
    assert not (tmp_path / "out").exists()


def test_cpu_only_goes_with_an_explicit_format():
    result = CliRunner().invoke(app, ["export", "onnx-fp32", "--cpu-only"])
    assert result.exit_code == 2 and "--cpu-only goes with --format and --precision" in result.stderr
    result = CliRunner().invoke(app, ["export", "--format", "onnx", "--precision", "fp32", "--cpu-only"])
    assert result.exit_code == 2 and "cpu_only: the onnx exporter does not read it" in result.stderr
