import pytest
import torch

from invdn_mobile.errors import InvdnError
from invdn_mobile.model import VARIANTS, Denoiser, InvDN, VariantConfig, get_variant
from invdn_mobile.model.checkpoint import convert_official, load_official, load_weights, save_weights
from invdn_mobile.model.coupling import Coupling
from invdn_mobile.model.haar import INVERSE_MODES, HaarDownsample, haar_kernel
from invdn_mobile.model.macs import count_macs, model_macs


@pytest.mark.parametrize("mode", INVERSE_MODES)
@pytest.mark.parametrize("channels", [1, 3, 12])
def test_haar_round_trip(mode, channels):
    haar = HaarDownsample(channels, mode)
    x = torch.randn(2, channels, 10, 14)
    y = haar(x)
    assert y.shape == (2, 4 * channels, 5, 7)
    assert (haar.inverse(y) - x).abs().max() < 1e-6


def test_haar_first_channels_are_average_pooling():
    x = torch.rand(1, 3, 8, 8)
    y = HaarDownsample(3)(x)
    assert torch.allclose(y[:, :3], torch.nn.functional.avg_pool2d(x, 2), atol=1e-7)


@pytest.mark.parametrize("variant", sorted(VARIANTS))
@pytest.mark.parametrize("mode", INVERSE_MODES)
def test_exact_invertibility(variant, mode):
    torch.manual_seed(1)
    model = InvDN(get_variant(variant), mode).eval()
    x = torch.rand(1, 3, 64, 48)
    with torch.no_grad():
        err = (model.reverse(model(x)) - x).abs().max().item()
    assert err <= 1e-5


def test_inverse_modes_agree():
    torch.manual_seed(2)
    a, b = InvDN(VariantConfig(blocks=2, width=16), "transpose"), InvDN(VariantConfig(blocks=2, width=16), "d2s")
    b.load_state_dict(a.state_dict())
    z = torch.randn(1, 48, 8, 8)
    with torch.no_grad():
        assert (a.reverse(z) - b.reverse(z)).abs().max() < 1e-5


def test_paper_parameter_count():
    params = InvDN(get_variant("paper")).num_params()
    assert abs(params - 2.64e6) / 2.64e6 <= 0.01
    assert params == 2_640_960  # conv weights + biases of 16 blocks x (F, G, H)


def test_block_macs_match_hand_count():
    h = w = 32
    block = Coupling(12, split=3, width=64)
    counted = count_macs(lambda: block(torch.zeros(1, 12, h, w)))
    f = 9 * 64 * 9 + 64 * 64 * 9 + (64 + 9) * 3 * 9
    g = 3 * 64 * 9 + 64 * 64 * 9 + (64 + 3) * 9 * 9
    assert counted == (f + 2 * g) * h * w


def test_paper_denoiser_macs_near_paper():
    macs = model_macs(InvDN(get_variant("paper")), 256, 256)
    assert 44e9 <= macs["denoiser"] <= 48e9
    # forward + reverse, less the last block's G and H (they only feed the discarded z): 2 x 65727 MAC/px at 64x64
    assert macs["forward"] + macs["reverse"] - macs["denoiser"] == 2 * 65727 * 64 * 64


def test_forward_lr_equals_the_slice_of_forward():
    torch.manual_seed(6)
    model = InvDN(VariantConfig(blocks=2, width=16)).eval()
    x = torch.rand(1, 3, 32, 24)
    with torch.no_grad():
        assert torch.equal(model.forward_lr(x), model(x)[:, :3])


def test_denoiser_is_deterministic_per_seed():
    torch.manual_seed(3)
    model = InvDN(VariantConfig(blocks=2, width=16)).eval()
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        a = Denoiser(model, tile=(32, 32), seed=7)(x)
        b = Denoiser(model, tile=(32, 32), seed=7)(x)
        c = Denoiser(model, seed=7)(x)  # no tile: z drawn for the shape on the fly, same generator
        d = Denoiser(model, tile=(32, 32), seed=8)(x)
    assert torch.equal(a, b) and torch.equal(a, c)
    assert (a - d).abs().max() > 1e-4


def test_denoiser_z_input_matches_constant():
    torch.manual_seed(4)
    model = InvDN(VariantConfig(blocks=1, width=8)).eval()
    fixed = Denoiser(model, tile=(16, 16), seed=5)
    takes_z = Denoiser(model, tile=(16, 16), seed=5, z_input=True)
    x = torch.rand(1, 3, 16, 16)
    with torch.no_grad():
        assert torch.equal(fixed(x), takes_z(x, fixed.z))
    with pytest.raises(ValueError):
        takes_z(x)


def test_weights_round_trip_and_wrong_variant(tmp_path):
    torch.manual_seed(5)
    model = InvDN(get_variant("compact"))
    path = tmp_path / "w.safetensors"
    save_weights(path, model, {"z": {"seed": 3, "scale": 1.0}})
    loaded, meta = load_weights(path)
    assert meta["variant"] == "compact" and meta["z"]["seed"] == 3
    for (k, v), (k2, v2) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert k == k2 and torch.equal(v, v2)
    with pytest.raises(InvdnError, match="holds variant 'compact'"):
        load_weights(path, "paper")


def _official_state(config: VariantConfig) -> dict:
    """A state dict with the authors' InvNet names and shapes (operations.i..., haar_weights as Parameters)."""
    state = {}
    channels, index = config.in_channels, 0
    for _ in range(config.scales):
        haar = torch.ones(4, 1, 2, 2)
        haar[1, 0, 0, 1] = haar[1, 0, 1, 1] = haar[2, 0, 1, 0] = haar[2, 0, 1, 1] = -1
        haar[3, 0, 1, 0] = haar[3, 0, 0, 1] = -1
        state[f"operations.{index}.haar_weights"] = torch.cat([haar] * channels, 0)
        index += 1
        channels *= 4
        split, rest = config.in_channels, channels - config.in_channels
        for _ in range(config.blocks):
            for sub, (cin, cout) in {"F": (rest, split), "G": (split, rest), "H": (split, rest)}.items():
                shapes = {"conv1": (64, cin), "conv2": (64, 64), "conv3": (cout, 64 + cin)}
                for conv, (o, i) in shapes.items():
                    state[f"operations.{index}.{sub}.{conv}.weight"] = torch.randn(o, i, 3, 3)
                    state[f"operations.{index}.{sub}.{conv}.bias"] = torch.randn(o)
            index += 1
    return state


def test_official_checkpoint_mapping_is_complete_and_exact(tmp_path):
    config = get_variant("paper")
    official = _official_state(config)
    mapped = convert_official(official, config)
    ours = InvDN(config).state_dict()
    assert set(mapped) == set(ours)  # complete: every parameter of ours, nothing else
    assert all(mapped[k].shape == ours[k].shape for k in ours)
    assert len(mapped) == len(official) - config.scales  # only the fixed Haar kernels are dropped
    # exact: a named official tensor lands on the expected parameter
    assert torch.equal(mapped["scales.1.blocks.7.H.conv3.bias"], official["operations.17.H.conv3.bias"])
    assert torch.equal(mapped["scales.0.blocks.0.F.conv1.weight"], official["operations.1.F.conv1.weight"])
    # a DataParallel prefix loads too, through the .pth loader
    path = tmp_path / "InvDN.pth"
    torch.save({f"module.{k}": v for k, v in official.items()}, path)
    model = load_official(path, config)
    assert torch.equal(model.state_dict()["scales.0.blocks.3.G.conv2.weight"], official["operations.4.G.conv2.weight"])


def test_official_mapping_rejects_a_wrong_haar_kernel():
    config = VariantConfig(scales=2, blocks=1, width=64)
    official = _official_state(config)
    official["operations.0.haar_weights"] = official["operations.0.haar_weights"] * 2
    with pytest.raises(InvdnError, match="not the Haar kernel"):
        convert_official(official, config)


def test_haar_kernel_matches_official_layout():
    # Output channel k*C + c is sub-band k of input channel c (the official transpose of the grouped conv).
    k = haar_kernel(3)
    assert k.shape == (12, 3, 2, 2)
    assert torch.equal(k[3 * 1 + 1, 1], torch.tensor([[1.0, -1.0], [1.0, -1.0]]) / 4)
    assert k[3 * 1 + 1, 0].abs().sum() == 0
