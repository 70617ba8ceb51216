import numpy as np
import pytest
from scipy.ndimage import uniform_filter

from invdn_mobile.errors import InvdnError
from invdn_mobile.tiling import (
    DEFAULT_OVERLAP,
    pad_image,
    plan,
    run_tiled,
    tiling_spec,
    windows,
)


@pytest.mark.parametrize("size", [(301, 199), (64, 64), (37, 500), (1, 1), (257, 255)])
def test_plan_covers_every_pixel_with_required_overlap(size):
    p = plan(*size, tile=64, overlap=16)
    ph, pw = p.padded
    assert ph >= size[0] and pw >= size[1] and ph >= 64 and pw >= 64
    for origins, length in ((p.ys, ph), (p.xs, pw)):
        assert origins[0] == 0 and origins[-1] + 64 == length
        gaps = np.diff(origins)
        assert np.all(64 - gaps >= 16)  # neighbours overlap by at least `overlap`
    weight = np.zeros((ph, pw))
    for (y, x), w in zip(p.origins, windows(p)):
        weight[y : y + 64, x : x + 64] += w
    assert weight.min() > 0


def test_feathered_weights_sum_to_one_for_even_spacing():
    p = plan(64 + 48 * 3, 64, tile=64, overlap=16)
    weight = np.zeros(p.padded)
    for (y, x), w in zip(p.origins, windows(p)):
        weight[y : y + 64, x : x + 64] += w
    np.testing.assert_allclose(weight, 1.0, atol=1e-6)


def _stack(fn):
    return lambda batch: np.stack([fn(t) for t in batch])


@pytest.mark.parametrize("size", [(301, 199), (130, 70), (20, 33)])
def test_pointwise_function_is_reproduced_exactly(size):
    rng = np.random.default_rng(0)
    image = rng.random((*size, 3), dtype=np.float32)
    out = run_tiled(image, lambda b: np.tanh(3 * b) + b**2, plan(*size, tile=64, overlap=16), batch=3)
    assert out.shape == image.shape
    np.testing.assert_allclose(out, np.tanh(3 * image) + image**2, atol=1e-5)


def test_tiling_equals_untiled_away_from_tile_borders():
    """A local (5x5) operator: where a pixel is covered by one tile only, at least 2 px inside it, the blended result
    equals the untiled one."""
    rng = np.random.default_rng(1)
    size, tile, overlap, radius = (300, 220), 64, 16, 2
    image = rng.random((*size, 3), dtype=np.float32)

    def blur(batch):  # NCHW, edge-padded like a conv with reflect padding
        return uniform_filter(batch, size=(1, 1, 5, 5), mode="mirror")

    p = plan(*size, tile=tile, overlap=overlap)
    out = run_tiled(image, blur, p)
    reference = blur(image.transpose(2, 0, 1)[None])[0].transpose(1, 2, 0)
    ph, pw = p.padded
    cover = np.zeros((ph, pw), int)
    inner = np.zeros((ph, pw), int)
    for y, x in p.origins:
        cover[y : y + tile, x : x + tile] += 1
        inner[y + radius : y + tile - radius, x + radius : x + tile - radius] += 1
    mask = ((cover == 1) & (inner == 1))[: size[0], : size[1]]
    mask[-radius:, :] = mask[:, -radius:] = False  # the photo's own bottom/right edge sees padding, not mirror
    assert mask.mean() > 0.3
    np.testing.assert_allclose(out[mask], reference[mask], atol=1e-5)


@pytest.mark.parametrize("tile,overlap", [(0, 0), (62, 8), (64, 64), (64, -1)])
def test_bad_plans_are_clear_errors(tile, overlap):
    with pytest.raises(InvdnError):
        plan(100, 100, tile=tile, overlap=overlap)


def test_tiling_spec_is_what_the_tiler_uses():
    spec = tiling_spec(256)
    assert spec["tile"] == 256 and spec["overlap"] == DEFAULT_OVERLAP == 32 and spec["multiple"] == 4
    assert tiling_spec(64)["overlap"] == 16  # a quarter tile for small tiles
    p = plan(300, 500, spec["tile"], spec["overlap"], spec["multiple"])
    assert p == plan(300, 500)  # the defaults of plan() are the spec's
    image = np.arange(2 * 3, dtype=np.float32).reshape(2, 3, 1)
    padded = pad_image(image, plan(2, 3, 16, 0))
    idx = [int(v) for v in padded[0, :, 0]]  # mirror index formula of the spec: k = i mod 2n ...
    assert idx == [i % 6 if i % 6 < 3 else 5 - i % 6 for i in range(16)]
    assert spec["padding"] == "symmetric"
