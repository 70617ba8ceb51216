"""The one tiling plan and feathered blend, shared by the CLI, parity on whole photos, benchmarks and (through golden
vectors) the demo apps.

Every tile has the same size (the artifact's fixed input size). The photo is mirror-padded to at least one tile in
each direction; tile origins along an axis are spread evenly from 0 to ``padded - tile`` so neighbours overlap by at
least ``overlap`` pixels. Each tile's output is weighted by a separable window that ramps linearly across the overlap
it actually shares with each neighbour (weight ``(d + 0.5) / L`` at distance ``d`` from that edge, ``L`` the overlap)
and is 1 elsewhere, including along the photo's borders; the blend divides by the summed weights. Two linear ramps over
the same overlap sum to exactly 1, so a pointwise function is reproduced exactly.

The demo apps reimplement this module (web_demo/tiling.js, android_demo/core, ios_demo/InvDNCore): ``tiling_spec``
is what every exported artifact's manifest entry records under ``"tiling"``, and :mod:`invdn_mobile.golden` writes
the files in ``golden/tiling/`` (``invdn golden``) that those ports are tested against.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from invdn_mobile.errors import InvdnError

DEFAULT_TILE = 256
DEFAULT_OVERLAP = 32  # pixels; small tiles use a quarter tile (default_overlap)
MULTIPLE = 4  # tile sides are multiples of this (the model's two Haar downscales)
CUT_ROWS = 32  # rows converted to float at a time when cutting a tile row: a small band, not a tile-high one
MAX_TILE = 4096  # larger tiles only cost memory: a 4096^2 tile of the paper model already needs several GB
PADDING = "symmetric"  # numpy.pad mode, bottom and right only: a b c | c b a a b c ... (the edge pixel repeated)
PADDING_FORMULA = "source index of padded index i on an axis of n pixels: k = i mod 2n; k if k < n else 2n - 1 - k"
WINDOW = "linear-feather"  # per axis: (d + 0.5) / L at distance d from an edge shared over L pixels, else 1
WINDOW_FORMULA = (
    "per axis: w[d] = min(1, (d + 0.5) / before, (tile - 1 - d + 0.5) / after), where before/after is the overlap "
    "actually shared with the previous/next tile (0: no ramp); 2-D weight = float32(w_y[i] * w_x[j]) (float64 "
    "product); blend in float32: acc += out * w, weight += w, result = acc / weight"
)
ORIGINS_FORMULA = (
    "per axis, L = max(size, tile): one tile at 0 if L <= tile, else n = ceil((L - overlap) / (tile - overlap)) and "
    "origin_i = round_half_to_even(i * (L - tile) / (n - 1)) in float64; tiles in row-major order (y outer, x inner)"
)


def check_options(tile: int, overlap: int | None, multiple: int = MULTIPLE, whole: bool = True) -> int:
    """Validate the tiling options a user gives (``--tile``, ``--overlap``); returns the overlap to use (``None``:
    :func:`default_overlap`). Stricter than :func:`plan`: at most :data:`MAX_TILE`, and an overlap of at most half a
    tile (beyond that the tile count explodes for no gain). ``whole``: tile 0 (run each photo untiled) is allowed."""
    if tile == 0 and whole:
        return 0
    if not multiple <= tile <= MAX_TILE or tile % multiple:
        zero = " (or 0 for whole photos)" if whole else ""
        raise InvdnError(f"--tile must be a multiple of {multiple} from {multiple} to {MAX_TILE}{zero}, got {tile}")
    overlap = default_overlap(tile) if overlap is None else overlap
    if not 0 <= overlap <= tile // 2:
        raise InvdnError(f"--overlap must be from 0 to half the tile ({tile // 2}), got {overlap}")
    return overlap


def default_overlap(tile: int) -> int:
    """The overlap used with a ``tile``: :data:`DEFAULT_OVERLAP`, or a quarter tile for tiles under 128."""
    return min(DEFAULT_OVERLAP, tile // 4)


def tiling_spec(tile: int, multiple: int = MULTIPLE) -> dict:
    """What an app needs to reproduce this module for an artifact of fixed ``tile`` (the manifest's ``"tiling"``)."""
    return {
        "tile": tile,
        "overlap": default_overlap(tile),
        "multiple": multiple,
        "padding": PADDING,
        "padding_formula": PADDING_FORMULA,
        "window": WINDOW,
        "origins_formula": ORIGINS_FORMULA,
        "window_formula": WINDOW_FORMULA,
        "reference": "invdn_mobile/tiling.py",
        "golden": "golden/tiling/",
    }


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


def plan(
    height: int, width: int, tile: int = DEFAULT_TILE, overlap: int = DEFAULT_OVERLAP, multiple: int = MULTIPLE
) -> TilePlan:
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


def axis_shares(origins: tuple[int, ...], tile: int) -> list[tuple[int, int]]:
    """Per tile along an axis: the pixels it shares with the previous and the next tile (0: none)."""
    n = len(origins)
    return [
        (origins[i - 1] + tile - o if i > 0 else 0, o + tile - origins[i + 1] if i + 1 < n else 0)
        for i, o in enumerate(origins)
    ]


def axis_windows(origins: tuple[int, ...], tile: int) -> list[np.ndarray]:
    return [_ramp(tile, before, after) for before, after in axis_shares(origins, tile)]


def windows(p: TilePlan) -> list[np.ndarray]:
    """Blend weight ``(tile, tile)`` for each tile, in the order of ``p.origins``."""
    wy, wx = axis_windows(p.ys, p.tile), axis_windows(p.xs, p.tile)
    return [np.outer(a, b).astype(np.float32) for a in wy for b in wx]


def pad_image(image: np.ndarray, p: TilePlan) -> np.ndarray:
    """Mirror-pad ``image`` (HWC) at the bottom and right to the plan's padded size."""
    ph, pw = p.padded
    pad = ((0, ph - image.shape[0]), (0, pw - image.shape[1])) + ((0, 0),) * (image.ndim - 2)
    return np.pad(image, pad, mode=PADDING) if (ph, pw) != image.shape[:2] else image


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
        out = fn(_stack(chunk))
        for k, result in enumerate(out):
            _accumulate(acc, weight, result, origins[start + k], wins[start + k], p.tile)
        if on_tile is not None:
            on_tile(len(chunk))
    return (acc / weight)[: p.height, : p.width]


def _stack(tiles: list[np.ndarray]) -> np.ndarray:
    """HWC tiles -> the NCHW float32 batch a tile function takes."""
    return np.stack([t.transpose(2, 0, 1) for t in tiles]).astype(np.float32)


def _accumulate(acc, weight, result: np.ndarray, origin: tuple[int, int], window: np.ndarray, tile: int) -> None:
    """Add one tile's CHW output, weighted by its window, at ``origin`` of ``acc`` / ``weight`` (HWC)."""
    (y, x), w = origin, window[:, :, None]
    acc[y : y + tile, x : x + tile] += result.transpose(1, 2, 0) * w
    weight[y : y + tile, x : x + tile] += w


def run_banded(
    rows: Callable[[int, int], np.ndarray],
    fn: Callable[[np.ndarray], np.ndarray],
    p: TilePlan,
    emit: Callable[[int, np.ndarray], None],
    batch: int = 1,
    on_tile: Callable[[int], None] | None = None,
    timer=None,
) -> None:
    """:func:`run_tiled` in bands of tile rows, for photos too large to hold in float: ``rows(y0, y1)`` gives the
    photo's rows ``y0:y1`` (HWC float32), read once per tile row; ``emit(y0, out)`` receives each finished band of
    the blended result (HWC float32, a view of a fresh planar array), top to bottom (rows ``y0 : y0 + len(out)``),
    as soon as no later tile touches it. The same tiles, batches, windows and float32 sums in the same order as
    :func:`run_tiled`: the result is identical.

    Host work on the main thread (between network calls) is kept to the least: a worker thread cuts the next tile
    row into one NCHW array while ``fn`` runs (a batch within a tile row is then a view of it), and another blends
    each batch's output while ``fn`` runs on the next (``emit`` is called from it): the blend windows are computed
    once per kind of tile, the sums are held planar (CHW, like ``fn``'s output) in one tile-high buffer and added to
    in place. Memory: two tile rows of input tiles, a tile row of sums and at most three batches of output.
    ``timer``: an optional :class:`~invdn_mobile.timer.Timer` (steps ``tiles``, ``network``, ``blend``, ``wait``;
    ``tiles`` and ``blend`` are mostly the workers')."""
    from concurrent.futures import ThreadPoolExecutor

    from invdn_mobile.timer import Timer

    timer = timer or Timer()
    t, (ph, pw) = p.tile, p.padded
    ny, nx = len(p.ys), len(p.xs)
    shares_y, shares_x = axis_shares(p.ys, t), axis_shares(p.xs, t)
    windows: dict = {}  # float32 2-D windows by the overlaps they ramp over: a few kinds, however large the photo

    def window(i: int, j: int) -> np.ndarray:
        key = shares_y[i], shares_x[j]
        if key not in windows:
            windows[key] = np.outer(_ramp(t, *key[0]), _ramp(t, *key[1])).astype(np.float32)
        return windows[key]

    def tile_row(i: int) -> np.ndarray:  # on the worker thread, while the network runs: tile row i as NCHW
        with timer("tiles"):
            y, out = p.ys[i], None
            height = min(y + t, p.height) - y
            step = t if height < t else CUT_ROWS  # under one tile high: the rows at once, to mirror them
            for r in range(0, height, step):
                b = rows(y + r, y + min(r + step, height))
                pad = ((0, t - b.shape[0] if height < t else 0), (0, pw - b.shape[1]), (0, 0))
                b = np.pad(b, pad, mode=PADDING) if pad[0][1] or pad[1][1] else b
                if out is None:
                    out = np.empty((nx, b.shape[2], t, t), np.float32)
                for j, x in enumerate(p.xs):
                    out[j, :, r : r + b.shape[0]] = b[:, x : x + t].transpose(2, 0, 1)
            return out

    top = 0  # the photo row of the sums' first row: acc[:, r] holds row top + r
    acc = weight = scratch = None

    def blend(start: int, out: np.ndarray) -> None:  # on the blend thread, batch after batch, in order
        nonlocal top, acc, weight, scratch
        for k, result in enumerate(out):
            i, j = divmod(start + k, nx)
            with timer("blend"):
                if acc is None:
                    acc = np.zeros((result.shape[0], t, pw), np.float32)
                    weight = np.zeros((t, pw), np.float32)
                    scratch = np.empty((result.shape[0], t, t), np.float32)
                w, y, x = window(i, j), p.ys[i] - top, p.xs[j]
                sums = acc[:, y : y + t, x : x + t]
                sums += np.multiply(result, w, out=scratch)
                weight[y : y + t, x : x + t] += w
                if j < nx - 1:
                    continue
                # tile row i done: rows above the next tile row are final
                n = min(p.ys[i + 1] if i + 1 < ny else ph, p.height) - top
                finished = np.divide(acc[:, :n, : p.width], weight[:n, : p.width]).transpose(1, 2, 0)
                acc[:, : t - n] = acc[:, n:].copy()  # the rows still open move to the top
                acc[:, t - n :] = 0
                weight[: t - n] = weight[n:].copy()
                weight[t - n :] = 0
            emit(top, finished)
            top += n

    with ThreadPoolExecutor(1, "invdn-tiles") as pool, ThreadPoolExecutor(1, "invdn-blend") as blender:
        ahead = {0: pool.submit(tile_row, 0)}
        current: dict[int, np.ndarray] = {}
        blends: deque = deque()
        for start in range(0, len(p), batch):
            stop = min(start + batch, len(p))
            pieces = []
            for i in range(start // nx, (stop - 1) // nx + 1):  # the tile rows this batch takes tiles from
                if i not in current:  # the next tile row, cut one ahead
                    with timer("wait"):
                        current = {i: ahead.pop(i).result()}
                    if i + 1 < ny:
                        ahead[i + 1] = pool.submit(tile_row, i + 1)
                pieces.append(current[i][max(start - i * nx, 0) : min(stop - i * nx, nx)])
            with timer("tiles"):
                tiles = pieces[0] if len(pieces) == 1 else np.concatenate(pieces)
            with timer("network"):
                out = fn(tiles)
            with timer("blend"):  # a copy of our own: a runtime may reuse its output buffer on the next call
                blends.append(blender.submit(blend, start, np.array(out, np.float32)))
            while len(blends) > 2 or blends and blends[0].done():  # at most two batches wait for the blend
                with timer("wait"):
                    blends.popleft().result()
            if on_tile is not None:
                on_tile(len(out))
        with timer("wait"):
            while blends:
                blends.popleft().result()
