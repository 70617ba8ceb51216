import json
import math
import re
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from invdn_mobile.train.config import load_config
from invdn_mobile.train.loop import lr_at, train


@pytest.fixture()
def photo_dir(tmp_path, sample_clean):
    folder = tmp_path / "photos"
    folder.mkdir()
    for p in sample_clean.iterdir():
        shutil.copy(p, folder / p.name)
    return folder


def _config(data, out, steps, **extra):
    values = dict(
        variant="compact",
        data=str(data),
        out=str(out),
        crop=32,
        batch=2,
        steps=steps,
        val_crop=32,
        val_every=2,
        checkpoint_every=2,
        log_every=1,
        lr_halve_at=[3],
    )
    return load_config(None, **{**values, **extra})


@pytest.mark.parametrize(
    "schedule", [{}, {"lr_schedule": "cosine", "warmup_steps": 1, "max_minutes": 60, "calibrate_steps": 1}]
)
def test_resume_is_bit_exact(tmp_path, photo_dir, schedule):
    quiet = {"resume": True, "progress": False, "log": lambda *_: None}
    straight = train(_config(photo_dir, tmp_path / "a", 4, **schedule), **quiet)
    half = train(_config(photo_dir, tmp_path / "b", 4, **schedule), **quiet, stop_at=2)
    first = load_file(half)  # the weights after 2 steps, before the resume overwrites the file
    resumed = train(_config(photo_dir, tmp_path / "b", 4, **schedule), **quiet)
    a, b = load_file(straight), load_file(resumed)
    assert a.keys() == b.keys() == first.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    # and the last two steps did change the weights
    assert not all(torch.equal(a[k], first[k]) for k in a)


def test_cosine_schedule():
    config = load_config(None, lr=1e-3, lr_schedule="cosine", warmup_steps=10, steps=110)
    assert lr_at(config, 0) == pytest.approx(1e-4)
    assert lr_at(config, 9) == pytest.approx(1e-3)
    assert lr_at(config, 60) == pytest.approx(5e-4)
    assert lr_at(config, 110) == pytest.approx(0.0, abs=1e-12)
    assert lr_at(config, 60, horizon=210) == pytest.approx(1e-3 * 0.5 * (1 + math.cos(math.pi * 0.25)))
    step = load_config(None, lr=1e-3, lr_halve_at=[5, 8])
    assert [lr_at(step, s) for s in (4, 5, 8)] == pytest.approx([1e-3, 5e-4, 2.5e-4])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('lr_schedule = "linear"', "lr_schedule = 'linear': must be 'step' or 'cosine'"),
        ('batch = "16"', "batch = '16': must be a valid integer"),
        ("batch = 0", "batch = 0: must be greater than or equal to 1"),
        ("lr_halve_at = [1.5]", "lr_halve_at.0 = 1.5: must be a valid integer"),
        ("max_minutes = true", "max_minutes = True: must be a valid number"),
        ("lr = -1e-4", "lr = -0.0001: must be greater than 0"),
    ],
)
def test_bad_config_values_are_one_clear_error(tmp_path, text, message):
    from invdn_mobile.errors import InvdnError

    cfg = tmp_path / "c.toml"
    cfg.write_text(text + "\n")
    with pytest.raises(InvdnError, match=re.escape(message)):
        load_config(cfg)
    assert load_config(None, max_minutes=2, lr_halve_at=[]).max_minutes == 2  # an int where a float is asked fits


def test_unknown_config_key_is_an_error(tmp_path):
    from invdn_mobile.errors import InvdnError

    cfg = tmp_path / "c.toml"
    cfg.write_text('variant = "paper"\nlearning_rate = 1\n')
    with pytest.raises(InvdnError, match="c.toml: training config: unknown key 'learning_rate'"):
        load_config(cfg)


def test_crops_are_deterministic_and_scale_augmentation_adds_detail():
    import numpy as np

    from invdn_mobile.data.dataset import CropDataset

    yy, xx = np.mgrid[0:400, 0:400]
    stripes = (127.5 + 100 * np.sin(2 * np.pi * (xx + yy) / 24.0)).astype(np.uint8)
    images = [np.repeat(stripes[..., None], 3, axis=2)]
    plain, scaled = CropDataset(images, 48, seed=3), CropDataset(images, 48, seed=3, scale_min=0.25)
    assert torch.equal(scaled[7], CropDataset(images, 48, seed=3, scale_min=0.25)[7])
    assert scaled[7].shape == (3, 48, 48) and scaled[7].dtype == torch.float32

    def detail(ds):  # mean absolute horizontal + vertical difference over 64 crops
        crops = torch.stack([ds[i] for i in range(64)])
        return float((crops.diff(dim=-1).abs().mean() + crops.diff(dim=-2).abs().mean()) / 2)

    # a region up to 4x larger reduced to the crop: the stripes' period shrinks, so neighbours differ more
    assert detail(scaled) > 1.4 * detail(plain)
    with pytest.raises(Exception, match="scale_min"):
        CropDataset(images, 48, seed=3, scale_min=0)


CONFIGS = sorted((Path(__file__).parent.parent / "configs").glob("*.toml"))


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_shipped_configs_load(path):
    config = load_config(path)
    assert config.steps >= 1 and config.batch >= 1


def test_final_weights_carry_the_warm_start_lineage(tmp_path, photo_dir):
    """A warm-started run's sidecar keeps its start file's lineage and adds a line for itself (steps, batch, noise)."""
    quiet = {"resume": False, "progress": False, "log": lambda *_: None}
    first = train(_config(photo_dir, tmp_path / "a", 2), **quiet)
    meta = json.loads(first.with_suffix(".json").read_text())
    (line,) = meta["training"]["lineage"]
    assert line.startswith("+ 2 steps (batch 2 x 32^2") and line.endswith("from scratch")
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", meta["training"]["trained_on"])
    second = train(_config(photo_dir, tmp_path / "b", 3, init=str(first)), **quiet)
    lineage = json.loads(second.with_suffix(".json").read_text())["training"]["lineage"]
    assert lineage[0] == line and lineage[1].startswith("+ 3 steps") and lineage[1].endswith(f"from {first.name}")
