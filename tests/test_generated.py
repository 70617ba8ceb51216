"""Every document generated from committed data is what that data renders to today (parity.md from parity.json,
frontier.md, REPORT.md, the README's summary, the model cards' sections), a change to the data makes exactly the
documents that show it stale, and the committed parity record keeps every number its table shows."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from invdn_mobile.bench import parity_record
from invdn_mobile.bench.generated import expected, markers, refresh, replace_section, stale
from invdn_mobile.cli.main import app
from invdn_mobile.errors import InvdnError
from invdn_mobile.parity import ParityRow, markdown

ROOT = Path(__file__).resolve().parent.parent


def _checkout_copy(tmp_path: Path) -> Path:
    """The committed data and the documents generated from it, in a scratch tree."""
    root = tmp_path / "repo"
    shutil.copytree(ROOT / "benchmarks", root / "benchmarks", ignore=shutil.ignore_patterns("*.png", "*.html"))
    shutil.copy(ROOT / "README.md", root / "README.md")
    (root / "docs").mkdir()
    for doc in ("int8.md", "export.md"):
        shutil.copy(ROOT / "docs" / doc, root / "docs" / doc)
    (root / "invdn_mobile" / "weights").mkdir(parents=True)
    for card in (ROOT / "invdn_mobile" / "weights").glob("*.md"):
        shutil.copy(card, root / "invdn_mobile" / "weights" / card.name)
    return root


def test_every_generated_document_is_current():
    docs = expected(ROOT)
    names = {p.relative_to(ROOT).as_posix() for p in docs}
    assert {"benchmarks/parity.md", "benchmarks/frontier.md", "benchmarks/REPORT.md", "benchmarks/arm64.md"} <= names
    assert "README.md" in names
    assert {"invdn_mobile/weights/invdn-paper.md", "invdn_mobile/weights/invdn-compact.md"} <= names
    assert {"docs/int8.md", "docs/export.md"} <= names
    assert not stale(ROOT), "stale: run `invdn report` (after `invdn export all` for parity.md)"


def test_a_changed_number_makes_exactly_its_documents_stale(tmp_path):
    root = _checkout_copy(tmp_path)
    assert stale(root) == []
    parity = json.loads((root / "benchmarks" / "parity.json").read_text())
    row = next(r for g in parity["artifacts"] for r in g if r["artifact"] == "web-fp16/invdn-compact-256-fp16.onnx")
    row["drop_db"], row["status"], row["failures"] = 0.2991, "fail", ["drop vs clean +0.299 dB > 0.1 dB"]
    (root / "benchmarks" / "parity.json").write_text(json.dumps(parity))
    assert {p.name for p in stale(root)} == {"parity.md", "invdn-compact.md"}  # the compact card counts statuses
    front = json.loads((root / "benchmarks" / "frontier.json").read_text())
    front["variants"][0]["params"] += 1
    (root / "benchmarks" / "frontier.json").write_text(json.dumps(front))
    changed = {p.name for p in stale(root)}
    assert {"frontier.md", "README.md", "invdn-paper.md"} <= changed and "REPORT.md" not in changed
    written = {p.name for p in refresh(root)}
    assert written == changed and stale(root) == []
    assert "| +0.299 / +0.008 (skimage-retina camera:iso3200) | fail: drop vs clean +0.299 dB > 0.1 dB |" in (
        root / "benchmarks" / "parity.md"
    ).read_text()
    card = (root / "invdn_mobile" / "weights" / "invdn-compact.md").read_text()
    n = sum("-compact-" in r["artifact"] for g in parity["artifacts"] for r in g[:1])  # one row per artifact
    assert f"{n} artifacts of this variant on the held-out and the stress photos: {n - 1} pass, 1 fail, 0 unv" in card
    heldout = root / "benchmarks" / "int8" / "heldout-2026-12-01-mixed.json"
    doc = json.loads(heldout.read_text())
    doc["rows"][0]["mean_drop_db"] = 0.0999
    heldout.write_text(json.dumps(doc))
    assert [p.name for p in stale(root)] == ["int8.md"]
    refresh(root)
    assert "| compact | camera:iso3200 | +0.100 / +0.147 |" in (root / "docs" / "int8.md").read_text()


def test_the_record_keeps_every_number_its_table_shows(tmp_path):
    def row(name, precision, status, **kw):
        return ParityRow(name, "onnx", precision, "onnxruntime-cpu", status, photos="p", noises=("awgn:15",), **kw)

    scores = dict(cases=2, max_abs_err=0.0123456, psnr_vs_torch=51.25, psnr_vs_torch_worst=48.75, drop_db=0.0625)
    scores |= dict(drop_worst_db=0.21875, worst_drop_case="a.png awgn:15", per_case=[{"case": "a.png awgn:15"}])
    groups = [
        [row("t/a.onnx", "int8", "pass", **scores)],
        [row("t/b.onnx", "fp16", "pass", **scores), row("t/b.onnx", "fp16", "fail", arithmetic="fp16", **scores)],
        [
            row(
                "t/c.onnx",
                "int8",
                "fail",
                failures=("NaN or Inf in the output",),
                finite=False,
                cases=2,
                per_case=[{"case": "x"}],
            )
        ],
        [row("t/d.onnx", "int8", "fail", failures=("output shape [1, 3, 8, 8], expected [1, 3, 4, 4]",), cases=2)],
        [ParityRow("t/e.mlpackage", "coreml", "fp32", "", "unverified", ("no runtime here",))],
    ]
    paths = parity_record.write_record(groups, "invdn export all", 61.0, json_path=tmp_path / "parity.json")
    assert [p.name for p in paths] == ["parity.json", "parity.md"]
    doc = parity_record.load(tmp_path / "parity.json")
    assert all("per_case" not in r for g in doc["artifacts"] for r in g)
    md = (tmp_path / "parity.md").read_text()
    assert md == parity_record.render(doc)
    table = markdown([r for g in groups for r in g])  # from the rows as measured, per-case numbers and all
    assert table in md
    assert "| t/c.onnx | int8 | onnxruntime-cpu | — | — / — | — / — | fail: NaN or Inf in the output |" in table
    assert "| t/d.onnx | int8 | onnxruntime-cpu | | | | fail: output shape" in table
    assert md.rstrip().endswith("status: 1 pass, 3 fail, 1 unverified")  # per artifact: b's fp16 row fails it
    assert "1.0 min wall" in md and f"{doc['machine']['cores']} cores" in md
    back = ParityRow.from_dict(doc["artifacts"][0][0])
    assert back.max_abs_err == 0.0123456 and back.drop_worst_db == 0.2188 and math.isnan(back.ssim_vs_clean)


@pytest.mark.parametrize(
    "content, message",
    [("{", "not JSON"), ('{"format": 0, "artifacts": []}', "not a parity record"), (None, "no parity record")],
)
def test_a_bad_parity_record_is_one_clear_error(tmp_path, content, message):
    path = tmp_path / "parity.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(InvdnError, match=message):
        parity_record.load(path)


def test_a_section_without_its_markers_is_refused():
    start, end = markers("frontier")
    assert replace_section(f"a\n{start}\nold\n{end}\nb", "frontier", "new") == f"a\n{start}\nnew\n{end}\nb"
    for text in ("no markers", f"{end}\n{start}", f"{start}{start}{end}"):
        with pytest.raises(InvdnError, match="needs one section"):
            replace_section(text, "frontier", "new", "card.md")


def test_invdn_report_rewrites_the_stale_documents(tmp_path, monkeypatch):
    root = _checkout_copy(tmp_path)
    parity = root / "benchmarks" / "parity.md"
    parity.write_text("stale\n")
    monkeypatch.chdir(root)
    result = CliRunner().invoke(app, ["report"])
    assert result.exit_code == 0, result.output
    assert "wrote benchmarks/parity.md" in result.output and "wrote benchmarks/REPORT.md" in result.output
    assert stale(root) == [] and (root / "benchmarks" / "drop_vs_speedup.png").stat().st_size > 10_000


def test_export_all_records_its_rows_and_the_cards_follow(tmp_path):
    from invdn_mobile.bench.generated import record_export_all

    row = ParityRow("web-int8/invdn-compact-256-int8.onnx", "onnx", "int8", "onnxruntime-cpu", "pass", cases=12)
    row.photos, row.noises = "samples/heldout", ("camera:iso3200", "awgn:15")
    row.max_abs_err, row.psnr_vs_torch, row.psnr_vs_torch_worst = 0.05, 46.0, 45.0
    row.drop_db, row.drop_worst_db, row.worst_drop_case = 0.09, 0.25, "brick.png awgn:15"
    assert record_export_all([[row]], 600.0, root=tmp_path) == []  # not a checkout: nothing written
    root = _checkout_copy(tmp_path)
    written = {p.name for p in record_export_all([[row]], 600.0, root=root)}
    assert written == {"parity.json", "parity.md", "invdn-compact.md", "invdn-paper.md"}
    assert stale(root) == []
    md = (root / "benchmarks" / "parity.md").read_text()
    assert "10.0 min wall" in md and md.rstrip().endswith("status: 1 pass, 0 fail, 0 unverified")
    compact = (root / "invdn_mobile" / "weights" / "invdn-compact.md").read_text()
    assert (
        "executed 1 artifacts of this variant on held-out photos: 1 pass" in compact and "+0.090 to +0.090" in compact
    )
    assert "has no artifact of `paper`" in (root / "invdn_mobile" / "weights" / "invdn-paper.md").read_text()
