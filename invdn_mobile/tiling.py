"""The one tiling plan and feathered blend, shared by the CLI, parity on whole photos, benchmarks and (through golden
vectors) the demo apps.

Every tile has the same size (the artifact's fixed input size). The photo is mirror-padded to at least one tile in
each direction; tile origins along an axis are spread evenly from 0 to ``padded - tile`` so neighbours overlap by at
least ``overlap`` pixels. Each tile's output is weighted by a separable window that ramps linearly across the overlap
it actually shares with each neighbour (weight ``(d + 0.5) / L`` at distance ``d`` from that edge, ``L`` the overlap)
and is 1 elsewhere, including along the photo's borders; the blend divides by the summed weights. Two linear ramps over
the same overlap sum to exactly 1, so a pointwise function is reproduced exactly.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from invdn_mobile.errors import InvdnError


@dataclass(frozen=True)
class TilePlan:
    height: int  # the photo's size
    width: int
    tile: int
    overlap: int
    ys: tuple[int, ...]  # tile origins in the padded photo
    xs: tuple[int, ...]

    @property
    def padded(self) -> tuple[int, int]:
        return max(self.height, self.tile), max(self.width, self.tile)

    @property
    def origins(self) -> list[tuple[int, int]]:
        return [(y, x) for y in self.ys for x in self.xs]

    def __len__(self) -> int:
        return len(self.ys) * len(self.xs)


def _axis_origins(length: int, tile: int, overlap: int) -> tuple[int, ...]:
    if length <= tile:
        return (0,)
    n = math.ceil((length - overlap) / (tile - overlap))
    return tuple(int(round(i * (length - tile) / (n - 1))) for i in range(n))


def plan(height: int, width: int, tile: int = 256, overlap: int = 32, multiple: int = 4) -> TilePlan:
    """Tile plan for a ``height x width`` photo and square ``tile`` (a multiple of ``multiple``)."""
    if height < 1 or width < 1:
        raise InvdnError(f"cannot tile an empty {height}x{width} image")
    if tile < multiple or tile % multiple:
        raise InvdnError(f"tile must be a positive multiple of {multiple}, got {tile}")
    if not 0 <= overlap < tile:
        raise InvdnError(f"overlap must be in [0, tile), got {overlap} for tile {tile}")
    ph, pw = max(height, tile), max(width, tile)
    return TilePlan(height, width, tile, overlap, _axis_origins(ph, tile, overlap), _axis_origins(pw, tile, overlap))


def _ramp(tile: int, before: int, after: int) -> np.ndarray:
    """1-D window: ramps over ``before`` pixels at the start and ``after`` at the end, 1 elsewhere."""
    w = np.ones(tile, dtype=np.float64)
    d = np.arange(tile, dtype=np.float64)
    if before > 0:
        w = np.minimum(w, (d + 0.5) / before)
    if after > 0:
        w = np.minimum(w, (tile - 1 - d + 0.5) / after)
    return w


def _axis_windows(origins: tuple[int, ...], tile: int) -> list[np.ndarray]:
    out = []
    for i, o in enumerate(origins):
        before = origins[i - 1] + tile - o if i > 0 else 0
        after = o + tile - origins[i + 1] if i + 1 < len(origins) else 0
        out.append(_ramp(tile, before, after))
    return out


def windows(p: TilePlan) -> list[np.ndarray]:
    """Blend weight ``(tile, tile)`` for each tile, in the order of ``p.origins``."""
    wy, wx = _axis_windows(p.ys, p.tile), _axis_windows(p.xs, p.tile)
    return [np.outer(a, b).astype(np.float32) for a in wy for b in wx]


def pad_image(image: np.ndarray, p: TilePlan) -> np.ndarray:
    """Mirror-pad ``image`` (HWC) at the bottom and right to the plan's padded size."""
    ph, pw = p.padded
    pad = ((0, ph - image.shape[0]), (0, pw - image.shape[1])) + ((0, 0),) * (image.ndim - 2)
    return np.pad(image, pad, mode="symmetric") if (ph, pw) != image.shape[:2] else image


def iter_tiles(image: np.ndarray, p: TilePlan) -> Iterator[np.ndarray]:
    padded = pad_image(image, p)
    for y, x in p.origins:
        yield padded[y : y + p.tile, x : x + p.tile]


def run_tiled(
    image: np.ndarray,
    fn: Callable[[np.ndarray], np.ndarray],
    p: TilePlan,
    batch: int = 1,
    on_tile: Callable[[int], None] | None = None,
) -> np.ndarray:
    """Apply ``fn`` (NCHW float32 batch -> NCHW float32 batch of the same shape) tile by tile and blend.

    Memory stays bounded by the photo itself plus ``batch`` tiles.
    """
    ph, pw = p.padded
    channels = image.shape[2]
    acc = np.zeros((ph, pw, channels), dtype=np.float32)
    weight = np.zeros((ph, pw, 1), dtype=np.float32)
    wins = windows(p)
    origins = p.origins
    tiles = iter_tiles(image, p)
    for start in range(0, len(origins), batch):
        chunk = [next(tiles) for _ in range(min(batch, len(origins) - start))]
        out = fn(np.stack([t.transpose(2, 0, 1) for t in chunk]).astype(np.float32))
        for k, result in enumerate(out):
            (y, x), w = origins[start + k], wins[start + k][:, :, None]
            acc[y : y + p.tile, x : x + p.tile] += result.transpose(1, 2, 0) * w
            weight[y : y + p.tile, x : x + p.tile] += w
        if on_tile is not None:
            on_tile(len(chunk))
    return (acc / weight)[: p.height, : p.width]
