"""The README keeps its promises: the two set-up commands, CI running the test command, and a summary table that is
what the generator writes from the committed numbers (never picking a row whose artifact did not pass its parity
gate)."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

from invdn_mobile.bench.generated import markers
from invdn_mobile.bench.summary import summary_table

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"


def test_readme_has_exactly_the_two_commands_and_ci_runs_the_test_one():
    text = README.read_text()
    quick = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    first_block = quick.split("```sh", 1)[1].split("```", 1)[0]
    commands = [line.split("#")[0].strip() for line in first_block.strip().splitlines()]
    assert commands == ["make run", "make test"]
    ci = (ROOT / ".ci" / "run").read_text()
    assert re.search(r"^make test$", ci, re.M)
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^run: ", makefile, re.M) and re.search(r"^test: ", makefile, re.M)


def test_readme_summary_table_is_generated_from_the_committed_numbers():
    text = README.read_text()
    start, end = markers("summary")
    block = text.split(start, 1)[1].split(end, 1)[0].strip()
    assert block == summary_table(ROOT / "benchmarks" / "frontier.json", ROOT / "benchmarks" / "results"), (
        "stale: run `invdn report`"
    )


def test_summary_never_picks_an_artifact_that_did_not_pass_parity(tmp_path):
    results = tmp_path / "results"
    results.mkdir()
    source = ROOT / "benchmarks" / "results" / "dev-epyc-2c-2026-11-26.json"
    doc = json.loads(source.read_text())
    fast = copy.deepcopy(next(r for r in doc["rows"] if r["variant"] == "compact" and r.get("target")))
    fast.update(median_ms=0.5, bytes=1000, size="256x256", target="broken-fast", format="onnx")
    doc["rows"].append(fast)
    for status in ("fail", "unverified", None):  # None: a row from before parity statuses existed
        fast["parity_status"] = status
        (results / source.name).write_text(json.dumps(doc))
        table = summary_table(ROOT / "benchmarks" / "frontier.json", results)
        assert "broken-fast" not in table and " 0.00 MB" not in table, status
    fast["parity_status"] = "pass"
    (results / source.name).write_text(json.dumps(doc))
    table = summary_table(ROOT / "benchmarks" / "frontier.json", results)
    assert "0.00 MB (broken-fast)" in table and "| 0 (" in table  # the same row counts once it passed


def test_every_relative_link_in_the_docs_resolves():
    pages = [README, ROOT / "CHANGELOG.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "golden" / "README.md"]
    pages += [p for p in (ROOT / "android_demo" / "README.md", ROOT / "ios_demo" / "README.md") if p.is_file()]
    broken = []
    for page in pages:
        for target in re.findall(r"\]\(([^)\s]+)\)", page.read_text()):
            if re.match(r"[a-z]+:", target) or target.startswith("#"):
                continue
            path = (page.parent / target.split("#", 1)[0]).resolve()
            if not path.exists():
                broken.append(f"{page.relative_to(ROOT)}: {target}")
    assert not broken, "\n".join(broken)
