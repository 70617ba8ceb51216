import shutil

import pytest
import torch
from safetensors.torch import load_file

from invdn_mobile.train.config import load_config
from invdn_mobile.train.loop import train


@pytest.fixture()
def photo_dir(tmp_path, sample_clean):
    folder = tmp_path / "photos"
    folder.mkdir()
    for p in sample_clean.iterdir():
        shutil.copy(p, folder / p.name)
    return folder


def _config(data, out, steps):
    return load_config(
        None,
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


def test_resume_is_bit_exact(tmp_path, photo_dir):
    straight = train(_config(photo_dir, tmp_path / "a", 4), resume=False, progress=False, log=lambda *_: None)
    half = _config(photo_dir, tmp_path / "b", 2)
    train(half, resume=False, progress=False, log=lambda *_: None)
    resumed = train(_config(photo_dir, tmp_path / "b", 4), resume=True, progress=False, log=lambda *_: None)
    a, b = load_file(straight), load_file(resumed)
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    # and training did change the weights
    first = load_file(tmp_path / "b" / "invdn-compact.safetensors")
    assert first.keys() == a.keys()


def test_unknown_config_key_is_an_error(tmp_path):
    from invdn_mobile.errors import InvdnError

    cfg = tmp_path / "c.toml"
    cfg.write_text('variant = "paper"\nlearning_rate = 1\n')
    with pytest.raises(InvdnError, match="unknown config keys"):
        load_config(cfg)
