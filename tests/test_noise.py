import numpy as np
import pytest
import torch

from invdn_mobile.errors import InvdnError
from invdn_mobile.noise import AWGN, CameraNoise, Mixture, parse_noise
from invdn_mobile.noise.camera import add_sensor_noise, process, quantize8, random_params, unprocess


def test_awgn_sigma():
    clean = torch.full((4, 3, 128, 128), 0.5)
    noisy = AWGN(25)(clean, torch.Generator().manual_seed(0))
    assert abs((noisy - clean).std().item() * 255 - 25) < 0.3


def test_awgn_range_per_image():
    clean = torch.full((64, 3, 32, 32), 0.5)
    noisy = AWGN(5, 50)(clean, torch.Generator().manual_seed(1))
    sig = (noisy - clean).flatten(1).std(1) * 255
    assert sig.min() > 4 and sig.max() < 51 and sig.std() > 8


def test_poisson_gaussian_variance_fit():
    """Noise variance grows linearly with the signal: fit var = a * x + b on a gray ramp."""
    levels = torch.linspace(0.02, 0.9, 24)
    raw = levels.view(1, 1, -1, 1).expand(1, 1, 24, 20000).contiguous()
    shot, read = torch.tensor([4e-3]), torch.tensor([2e-5])
    noisy = add_sensor_noise(raw, shot, read, torch.Generator().manual_seed(2))
    var = (noisy - raw)[0, 0].var(dim=1).numpy()
    a, b = np.polyfit(levels.numpy(), var, 1)
    assert abs(a - 4e-3) / 4e-3 < 0.05
    assert abs(b - 2e-5) < 1e-5


def test_camera_pipeline_inverts_without_noise():
    g = torch.Generator().manual_seed(3)
    clean = quantize8(torch.rand(8, 3, 40, 40, generator=g))
    p = random_params(8, (100, 12800), g)
    back = quantize8(process(unprocess(clean, p), p))
    assert (back - clean).abs().max().item() <= 1 / 255 + 1e-6


def test_camera_noise_grows_with_iso_and_is_8bit():
    clean = torch.full((4, 3, 64, 64), 0.4)
    stds = []
    for iso in (200, 1600, 12800):
        noisy = CameraNoise(iso, None)(clean, torch.Generator().manual_seed(4))
        assert torch.equal(noisy, torch.round(noisy * 255) / 255)
        stds.append((noisy - clean).std().item())
    assert stds[0] < stds[1] < stds[2]


def test_noise_is_seeded():
    clean = torch.rand(2, 3, 32, 32)
    model = parse_noise("camera+awgn:5-50")
    a = model(clean, torch.Generator().manual_seed(5))
    b = model(clean, torch.Generator().manual_seed(5))
    assert torch.equal(a, b)
    assert isinstance(model, Mixture)


@pytest.mark.parametrize(
    ("spec", "name", "fields"),
    [
        ("awgn:25", "awgn:25", {"sigma": 25.0, "sigma_max": None}),
        ("awgn:5-50", "awgn:5-50", {"sigma": 5.0, "sigma_max": 50.0}),
        ("camera", "camera:iso100-12800", {"iso": 100.0, "iso_max": 12800.0}),  # the default ISO range, spelt out
        ("camera:iso3200", "camera:iso3200", {"iso": 3200.0, "iso_max": None}),
        ("camera:iso100-6400", "camera:iso100-6400", {"iso": 100.0, "iso_max": 6400.0}),
    ],
)
def test_parse_round_trip(spec, name, fields):
    """The parsed model has the numbers the spec says, its name is the full spec, and the name parses back to the
    same model."""
    model = parse_noise(spec)
    assert model.name == name and {k: getattr(model, k) for k in fields} == fields
    again = parse_noise(model.name)
    assert type(again) is type(model) and again.name == name and vars(again) == vars(model)


@pytest.mark.parametrize("spec", ["", "awgn", "awgn:x", "camera:3200", "poisson:1"])
def test_parse_rejects(spec):
    with pytest.raises(InvdnError):
        parse_noise(spec)
