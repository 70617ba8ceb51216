"""Shared fixtures: a tiny random-weight network on disk and real sample photos."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from invdn_mobile.model import InvDN, VariantConfig
from invdn_mobile.model.checkpoint import save_weights

ROOT = Path(__file__).resolve().parent.parent
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
