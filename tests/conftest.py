"""Shared fixtures: a tiny random-weight network on disk and real sample photos; the optional parts of the suite."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

import pytest
import torch

from invdn_mobile.model import InvDN, VariantConfig
from invdn_mobile.model.checkpoint import save_weights

ROOT = Path(__file__).resolve().parent.parent
# parity references made by the tests go into a folder of this run, removed at its end, not the user's cache
# (invdn_mobile/export/references.py)
if "INVDN_CACHE" not in os.environ:
    os.environ["INVDN_CACHE"] = tempfile.mkdtemp(prefix="invdn-test-cache-")
    atexit.register(shutil.rmtree, os.environ["INVDN_CACHE"], ignore_errors=True)
SAMPLES = ROOT / "samples"
TINY = VariantConfig(scales=2, blocks=1, width=8)


@pytest.fixture(scope="session")
def tiny_weights(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    model = InvDN(TINY)
    path = tmp_path_factory.mktemp("weights") / "tiny.safetensors"
    save_weights(path, model, {"z": {"seed": 0, "scale": 1.0}})
    return path


@pytest.fixture(scope="session")
def sample_clean() -> Path:
    return SAMPLES / "clean"


@pytest.fixture(scope="session")
def sample_noisy() -> Path:
    return SAMPLES / "noisy"


@pytest.fixture(scope="session")
def photos(tmp_path_factory, sample_clean) -> Path:
    """Parity photos small enough for tests: two 100x80 crops of the sample photos."""
    from PIL import Image

    folder = tmp_path_factory.mktemp("parity-photos")
    for p in sorted(sample_clean.iterdir())[:2]:
        Image.open(p).crop((100, 100, 200, 180)).save(folder / p.name)
    return folder


# ---- optional parts (browser, JVM): skipped with the reason locally, a failure in CI ----

PARTS: dict[str, str | None] = {}  # part -> None (ran) or why it could not run


def require_part(part: str, missing: str | None) -> None:
    """Record whether an optional part of the suite (``browser``, ``jvm``) can run; when it cannot (``missing`` says
    why), skip the test locally and fail it in CI (``INVDN_CI=1``, set by ``.ci/run``), where every part must run."""
    if PARTS.get(part) is None:
        PARTS[part] = missing
    if missing:
        if os.environ.get("INVDN_CI"):
            pytest.fail(f"{part}: {missing} (CI must run every part)", pytrace=False)
        pytest.skip(f"{part}: {missing}", allow_module_level=True)


def require_module(name: str):
    """Import an optional converter or runtime the suite needs (part ``python extras``): a skip naming the module and
    the extra locally, a failure in CI. Returns the module."""
    import importlib

    try:
        module = importlib.import_module(name)
    except ImportError as exc:
        require_part("python extras", f"{name} is not installed ({exc}); `make setup` installs every extra")
        raise  # not reached: require_part skipped or failed
    require_part("python extras", None)
    return module


def require_weights(variant: str) -> Path:
    """The bundled weights of ``variant`` (part of the package: missing is a failure in CI, a named skip locally)."""
    from invdn_mobile.model.checkpoint import default_weights

    path = default_weights(variant)
    require_part("bundled weights", None if path else f"no bundled {variant} weights in this install")
    return path


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if PARTS:
        said = ", ".join(f"{part} {'ran' if why is None else 'NOT RUN (' + why + ')'}" for part, why in PARTS.items())
        terminalreporter.write_line(f"optional parts: {said}")
