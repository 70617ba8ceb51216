"""Dependencies: constraints.txt pins what pyproject.toml asks for and everything installed with it; the table of
optional modules agrees with pyproject's extras and a missing one is one line naming its extra; parity's SSIM needs no
extra; the private LiteRT call is guarded."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import pytest
from conftest import require_part
from packaging.utils import canonicalize_name

from invdn_mobile.errors import InvdnError
from invdn_mobile.extras import EXTRAS, have, install_hint, need

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("constraints", ROOT / "scripts" / "constraints.py")
constraints = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(constraints)


def _extras() -> dict[str, set[str]]:
    """pyproject extra (and ``base``) -> the canonical names of its distributions."""
    out: dict[str, set[str]] = {}
    for req, extra in constraints.requirements():
        out.setdefault(extra or "base", set()).add(canonicalize_name(req.name))
    return out


def test_every_requirement_of_pyproject_is_pinned_inside_its_range():
    pins = constraints.read()
    outside = [
        f"{req} (pinned {pins.get(canonicalize_name(req.name), 'nowhere')})"
        for req, _ in constraints.requirements()
        if not req.specifier.contains(pins.get(canonicalize_name(req.name), "0.dev0"), prereleases=True)
    ]
    assert not outside, "constraints.txt does not satisfy pyproject.toml: " + "; ".join(outside)
    assert pins["torch"] == "2.13.0"  # the local CPU wheel's public version (2.13.0+cpu satisfies ==2.13.0)


def test_constraints_pin_every_installed_distribution_of_the_extras():
    """What `make setup` installed (everything the extras bring, transitively) is what constraints.txt pins, version
    for version: a dependency that appeared or moved without constraints.txt knowing fails here."""
    pins, installed = constraints.read(), constraints.closure()
    assert len(installed) > 50  # the walk reached the transitive dependencies, not just pyproject's names
    differ = [f"{n} {v} (pinned {pins.get(n, 'nowhere')})" for n, v in installed.items() if pins.get(n) != v]
    assert not differ, "run `python scripts/constraints.py`: " + "; ".join(differ)


def test_every_range_has_an_upper_bound():
    unbounded = [
        str(req)
        for req, _ in constraints.requirements()
        if not any(s.operator in ("<", "<=", "==", "~=") for s in req.specifier)
    ]
    assert not unbounded, unbounded


def test_the_makefile_installs_torch_first_then_the_extras_from_the_constraints():
    recipe = (ROOT / "Makefile").read_text().split("$(VENV)/.installed:", 1)[1].split("\n\n", 1)[0]
    assert "constraints.txt" in recipe.splitlines()[0]  # a new constraints.txt rebuilds the environment
    torch = recipe.index("pip install --quiet torch==2.13.0")
    extras = re.search(r"pip install --quiet -e '\.\[[^]]+\]' -c constraints\.txt", recipe)
    assert extras and torch < extras.start()


def test_the_optional_modules_table_agrees_with_pyproject():
    extras = _extras()
    wrong = [f"{m}: {d} not in [{e}]" for m, (d, e) in EXTRAS.items() if canonicalize_name(d) not in extras.get(e, ())]
    assert not wrong, wrong
    # SSIM (metrics.ssim), which parity computes for every export, needs no extra
    assert "scikit-image" in extras["base"]


def test_a_missing_optional_module_is_one_line_naming_its_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "bm3d", None)  # what Python does for a module that cannot be imported
    with pytest.raises(InvdnError) as err:
        need("bm3d")
    message = str(err.value)
    assert message.startswith("bm3d is not installed (") and message.endswith("pip install 'invdn-mobile[train]'")
    assert "\n" not in message
    assert install_hint("coremltools.converters.mil") == "pip install 'invdn-mobile[export-coreml]'"
    with pytest.raises(KeyError, match="not an optional dependency"):
        need("numpy")  # a base dependency is imported plainly, never through the table


@pytest.fixture(scope="module")
def small_tflite(tmp_path_factory) -> Path:
    missing = [m for m in ("litert_torch", "ai_edge_litert") if not have(m)]
    require_part("tflite", f"{', '.join(missing)} not installed: {install_hint('litert_torch')}" if missing else None)
    import torch

    litert_torch = need("litert_torch", silent=True)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.LeakyReLU(0.2)).eval()
    path = tmp_path_factory.mktemp("tflite") / "small.tflite"
    litert_torch.convert(model, (torch.zeros(1, 3, 8, 8),)).export(str(path))
    return path


def test_litert_ops_are_read_through_the_guard(small_tflite, monkeypatch):
    from invdn_mobile.runtimes.litert import interpreter, ops_details

    ops = ops_details(interpreter(small_tflite))
    names = [o["op_name"] for o in ops]
    assert "CONV_2D" in names and "LEAKY_RELU" in names
    interp = interpreter(small_tflite)
    monkeypatch.delattr(type(interp), "_get_ops_details")  # a release without the private call
    with pytest.raises(InvdnError) as err:
        ops_details(interp)
    version = constraints.closure()["ai-edge-litert"]
    assert str(err.value).startswith(f"ai-edge-litert {version}: Interpreter._get_ops_details is gone")
    assert "pip install 'invdn-mobile[export-tflite]'" in str(err.value)


def test_import_errors_are_handled_in_one_place():
    """Every optional module is imported through extras.need/have (the one place that names its extra), not by a
    try/except of its own."""
    found = [
        f"{p.relative_to(ROOT)}:{n}"
        for p in sorted((ROOT / "invdn_mobile").rglob("*.py"))
        if p.name != "extras.py"
        for n, line in enumerate(p.read_text().splitlines(), 1)
        if re.search(r"except .*(ImportError|ModuleNotFoundError)", line)
    ]
    assert not found, found
