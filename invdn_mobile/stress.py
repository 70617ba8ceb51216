"""The stress photos: clean photos that drive a denoiser's activations where ordinary photos rarely go, for the parity
gates of quantized artifacts and for calibrating their ranges.

Two parts:

* **generated** (:func:`generated`): seeded, made by code at any size: saturated primaries and secondaries with
  detail, near-white and near-black fields with detail, specular highlights, hard edges, checkerboards, fine stripes
  at several periods and angles, text, smooth gradients and colour speckle like a high-ISO sensor's. Each photo
  combines several of these in regions of the same crop, so that every parity case (one tile from the photo's centre)
  meets them all.
* **natural** (:func:`natural`): every colour or gray photograph bundled with scikit-image that neither the held-out
  parity set (``samples/heldout``, crops of scikit-image photos), the INT8 sensitivity search (``samples/clean``) nor
  INT8 calibration (``samples/calibration``) uses, downscaled so that a tile's crop holds a whole scene.

The parity set ``stress`` is both, with seed :data:`GATE_SEED`; INT8 calibration may add generated photos of other
seeds (:data:`CALIBRATION_SEEDS`), never the gate's photos, so what the gate measures is never what was calibrated on.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import numpy as np

from invdn_mobile.errors import InvdnError

GATE_SEED = 0  # the parity set's generated photos
CALIBRATION_SEEDS = (101, 102, 103)  # generated photos INT8 calibration may use (never GATE_SEED)
SIZE = 256  # generated photos are SIZE x SIZE (the largest recipe tile: one parity case sees all of a photo)
NATURAL_SIDE = 384  # natural photos are downscaled to this long side
# scikit-image's bundled photographs that no other photo set of the project uses (samples/heldout crops brick, camera,
# gravel, hubble_deep_field, rocket and text; samples/clean holds astronaut); their sources: skimage/data/README.txt
NATURAL = (
    "chelsea.png",  # a cat: fur, whiskers
    "coffee.png",  # a cup: specular rim, saturated red
    "motorcycle_left.png",  # saturated red and chrome highlights
    "retina.jpg",  # a fundus photo: saturated red-orange, near-black surround
    "ihc.png",  # a stained tissue section: saturated brown/blue
    "color.png",  # a colour chart: saturated primaries and secondaries
    "logo.png",  # the scikit-image logo (RGBA, on white): flat saturated colours, hard edges
    "coins.png",  # gray: metal highlights
    "moon.png",  # gray: near-black sky, bright limb
    "grass.png",  # gray: fine texture
    "clock_motion.png",  # gray: near-white with motion blur
)

RGB = tuple[float, float, float]
SATURATED: tuple[RGB, ...] = ((1, 0, 0), (0, 1, 0), (0, 0, 1), (0, 1, 1), (1, 0, 1), (1, 1, 0))


def _grid(n: int) -> tuple[np.ndarray, np.ndarray]:
    y, x = np.mgrid[0:n, 0:n].astype(np.float32)
    return y, x


def _texture(rng: np.random.Generator, n: int, scale: float) -> np.ndarray:
    """Smooth random texture in [-1, 1]: white noise blurred by a box of ``scale`` pixels (separable, cumulative)."""
    import cv2

    t = rng.standard_normal((n, n)).astype(np.float32)
    k = max(1, int(scale))
    t = cv2.blur(t, (k, k), borderType=cv2.BORDER_REFLECT)
    return t / max(float(np.abs(t).max()), 1e-6)


def saturated(rng: np.random.Generator, n: int) -> np.ndarray:
    """Patches of the six saturated primaries and secondaries, each with a fine texture and a few hard-edged dots of
    another saturated colour."""
    img = np.zeros((n, n, 3), np.float32)
    cells = 3
    step = math.ceil(n / cells)
    tex = _texture(rng, n, 3)
    for cy in range(cells):
        for cx in range(cells):
            colour = np.array(SATURATED[rng.integers(len(SATURATED))], np.float32)
            sl = np.s_[cy * step : (cy + 1) * step, cx * step : (cx + 1) * step]
            depth = rng.uniform(0.05, 0.2)  # the texture pulls the colour's zero channels up, its full ones down
            patch = colour + np.where(colour > 0.5, -1.0, 1.0) * depth * (0.5 + 0.5 * tex[sl][..., None])
            img[sl] = patch
    y, x = _grid(n)
    for _ in range(12):
        cy, cx, r = rng.uniform(0, n), rng.uniform(0, n), rng.uniform(2, 9)
        img[(y - cy) ** 2 + (x - cx) ** 2 < r * r] = SATURATED[rng.integers(len(SATURATED))]
    return img


def extremes(rng: np.random.Generator, n: int) -> np.ndarray:
    """Left: a near-white field with faint texture and thin gray lines; right: a near-black field with the same;
    specular highlights (clipped white spots) on both."""
    img = np.empty((n, n, 3), np.float32)
    tex = _texture(rng, n, 4)[..., None]
    half = n // 2
    img[:, :half] = 0.94 + 0.05 * tex[:, :half]
    img[:, half:] = 0.04 + 0.035 * tex[:, half:]
    import cv2

    for _ in range(10):
        p = tuple(int(v) for v in rng.integers(0, n, 4))
        bright = p[0] >= half
        cv2.line(img, p[:2], p[2:], (0.3, 0.3, 0.3) if not bright else (0.75, 0.75, 0.75), 1, cv2.LINE_AA)
    y, x = _grid(n)
    for _ in range(8):
        cy, cx, r = rng.uniform(0, n), rng.uniform(0, n), rng.uniform(1.5, 6)
        img += (2.5 * np.exp(-((y - cy) ** 2 + (x - cx) ** 2) / (2 * r * r)))[..., None]
    return np.clip(img, 0, 1)


def edges(rng: np.random.Generator, n: int) -> np.ndarray:
    """Hard edges: filled rectangles and triangles of black, white and saturated colours over each other, and a
    quadrant of checkerboards of periods 1, 2, 4 and 8 pixels."""
    import cv2

    img = np.full((n, n, 3), rng.uniform(0, 1), np.float32)
    palette = [(0, 0, 0), (1, 1, 1), *SATURATED]
    for _ in range(14):
        colour = tuple(float(c) for c in palette[rng.integers(len(palette))])
        if rng.random() < 0.5:
            a, b = rng.integers(0, n, 2), rng.integers(0, n, 2)
            cv2.rectangle(img, tuple(int(v) for v in a), tuple(int(v) for v in b), colour, -1)
        else:
            cv2.fillPoly(img, [rng.integers(0, n, (3, 2)).astype(np.int32)], colour)
    y, x = _grid(n)
    q = n // 4  # the bottom-left quarter: four q x q checkerboards
    for k, period in enumerate((1, 2, 4, 8)):
        sl = np.s_[n // 2 + (k // 2) * q : n // 2 + (k // 2 + 1) * q, (k % 2) * q : (k % 2 + 1) * q]
        board = ((y[sl] // period + x[sl] // period) % 2).astype(np.float32)[..., None]
        a, b = np.array(palette[rng.integers(len(palette))]), np.array(palette[rng.integers(len(palette))])
        img[sl] = board * a + (1 - board) * b
    return img


def stripes(rng: np.random.Generator, n: int) -> np.ndarray:
    """Fine stripes: four regions at periods of 2 to 7 pixels and angles of 0 to 90 degrees, square and sine waves,
    black/white and in saturated colours."""
    y, x = _grid(n)
    img = np.empty((n, n, 3), np.float32)
    half = n // 2
    for k in range(4):
        period, angle = rng.uniform(2, 7), rng.choice([0.0, 30.0, 45.0, 60.0, 90.0]) + rng.uniform(-3, 3)
        t = math.radians(angle)
        phase = 2 * math.pi * (x * math.cos(t) + y * math.sin(t)) / period
        wave = 0.5 + 0.5 * np.sin(phase)
        if k % 2:
            wave = (wave > 0.5).astype(np.float32)
        c = int(rng.integers(len(SATURATED)))  # colour stripes: a saturated colour on its complement
        a = np.array(SATURATED[c]) if k >= 2 else np.ones(3)
        b = np.zeros(3) if k < 2 else np.array(SATURATED[(c + 3) % 6])
        sl = np.s_[(k // 2) * half : (k // 2 + 1) * half, (k % 2) * half : (k % 2 + 1) * half]
        img[sl] = wave[sl][..., None] * a + (1 - wave[sl][..., None]) * b
    return img


def text(rng: np.random.Generator, n: int) -> np.ndarray:
    """Lines of text at several sizes: black on white, white on black, and saturated colours on each other."""
    import cv2

    img = np.full((n, n, 3), 255, np.uint8)  # OpenCV draws text on 8-bit images only
    letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    yy, row = 0, 0
    while yy < n:
        scale = float(rng.choice([0.3, 0.4, 0.55, 0.8]))
        height = int(30 * scale) + 4
        palette = [((1, 1, 1), (0, 0, 0)), ((0, 0, 0), (1, 1, 1))] + [
            (SATURATED[i], SATURATED[(i + 3) % 6]) for i in range(6)
        ]
        bg, fg = palette[row % 2] if row < 4 else palette[rng.integers(len(palette))]
        img[yy : yy + height] = np.array(bg) * 255
        words = "".join(rng.choice(list(letters + "   "), 40))
        colour = tuple(int(c * 255) for c in fg)
        cv2.putText(img, words, (2, yy + height - 3), cv2.FONT_HERSHEY_SIMPLEX, scale, colour, 1, cv2.LINE_AA)
        yy += height
        row += 1
    return img.astype(np.float32) / 255.0


def gradients(rng: np.random.Generator, n: int) -> np.ndarray:
    """Smooth gradients: a hue sweep at full saturation from black to white (top), a radial gradient and a slow
    linear ramp (bottom)."""
    y, x = _grid(n)
    hue = (x / n + rng.uniform(0, 1)) % 1.0
    value = y / max(n - 1, 1)
    img = np.empty((n, n, 3), np.float32)
    for c, shift in enumerate((0.0, 2 / 3, 1 / 3)):  # a hue wheel from three phase-shifted triangle waves
        img[..., c] = np.clip(np.abs(((hue + shift) % 1.0) * 6 - 3) - 1, 0, 1)
    top = value < 0.5
    v = (value * 2)[..., None]
    img = np.where(top[..., None], img * v, img + (1 - img) * (v - 1))
    half = n // 2
    cy, cx = rng.uniform(half, n), rng.uniform(0, n)
    radial = np.clip(np.sqrt((y - cy) ** 2 + (x - cx) ** 2) / n, 0, 1)
    ramp = np.clip(x / n * 0.2 + 0.4, 0, 1)
    img[half:, :half] = np.stack([radial, 1 - radial, radial * 0.5], -1)[half:, :half]
    img[half:, half:] = ramp[half:, half:, None]
    return img.astype(np.float32)


def speckle(rng: np.random.Generator, n: int) -> np.ndarray:
    """Colour speckle like a high-ISO sensor's chroma noise, part of the photo (the parity noise goes on top): strong
    per-channel noise over a dim and a mid-gray field, and over saturated colour."""
    img = np.empty((n, n, 3), np.float32)
    third = n // 3
    img[:third] = 0.12
    img[third : 2 * third] = 0.5
    img[2 * third :] = np.array(SATURATED[rng.integers(len(SATURATED))]) * 0.8 + 0.1
    noise = rng.standard_normal((n, n, 3)).astype(np.float32)
    import cv2

    coarse = cv2.resize(
        rng.standard_normal((n // 2, n // 2, 3)).astype(np.float32), (n, n), interpolation=cv2.INTER_NEAREST
    )
    return np.clip(img + 0.12 * noise + 0.1 * coarse, 0, 1)


GENERATORS: dict[str, Callable[[np.random.Generator, int], np.ndarray]] = {
    "saturated": saturated,
    "extremes": extremes,
    "edges": edges,
    "stripes": stripes,
    "text": text,
    "gradients": gradients,
    "speckle": speckle,
}


def generated(seed: int = GATE_SEED, size: int = SIZE) -> list[tuple[str, np.ndarray]]:
    """``(name, clean HWC float32 in [0, 1])`` for every generator, seeded by ``seed`` and the generator's place (the
    same seed gives the same pixels on every machine: numpy's PCG64 and OpenCV's deterministic drawing)."""
    out = []
    for i, (name, make) in enumerate(GENERATORS.items()):
        rng = np.random.default_rng([seed, i])
        img = np.clip(make(rng, size), 0.0, 1.0).astype(np.float32)
        out.append((f"stress-{name}-s{seed}", np.round(img * 255.0) / 255.0))  # stored as an 8-bit photo would be
    return out


def skimage_data_dir() -> Path:
    import skimage

    return Path(skimage.__file__).parent / "data"


def natural(side: int = NATURAL_SIDE) -> list[tuple[str, np.ndarray]]:
    """``(name, clean)`` for each photo of :data:`NATURAL`, downscaled to a long side of ``side`` (area averaging),
    RGBA composited on white, gray repeated in three channels, 8-bit values. A photo missing from the installed
    scikit-image is an error (the set must not shrink silently)."""
    import cv2

    from invdn_mobile.imageio import read_image

    folder = skimage_data_dir()
    out = []
    for fname in NATURAL:
        path = folder / fname
        if not path.is_file():
            raise InvdnError(f"stress set: {path} is missing (scikit-image's bundled photos; reinstall scikit-image)")
        photo = read_image(path)
        rgb = photo.rgb
        if photo.alpha is not None:
            a = photo.alpha.astype(np.float32) / float(np.iinfo(photo.alpha.dtype).max)
            rgb = rgb * a[..., None] + (1.0 - a[..., None])
        h, w = rgb.shape[:2]
        f = side / max(h, w)
        if f < 1:
            rgb = cv2.resize(rgb, (round(w * f), round(h * f)), interpolation=cv2.INTER_AREA)
        out.append((f"skimage-{Path(fname).stem}", (np.round(np.clip(rgb, 0, 1) * 255.0) / 255.0).astype(np.float32)))
    return out


def stress_photos() -> list[tuple[str, np.ndarray]]:
    """The parity set ``stress``: the generated photos of :data:`GATE_SEED`, then the natural ones."""
    return generated(GATE_SEED) + natural()


def calibration_photos(seeds=CALIBRATION_SEEDS, size: int = SIZE) -> list[tuple[str, np.ndarray]]:
    """Generated stress photos of seeds other than the gate's, for INT8 calibration."""
    if GATE_SEED in seeds:
        raise InvdnError(f"stress seed {GATE_SEED} is the parity gate's: calibration may not use it")
    return [p for s in seeds for p in generated(s, size)]
