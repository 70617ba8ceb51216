"""The photos export uses: the parity photos (default ``samples/heldout``, read by :mod:`invdn_mobile.parity`) and the
INT8 calibration crops (default ``samples/calibration``), seeded crops with the training noise mixture."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from invdn_mobile.data.dataset import CropDataset, load_uint8
from invdn_mobile.errors import InvdnError
from invdn_mobile.imageio import list_images
from invdn_mobile.noise import parse_noise

CALIBRATION_NOISE = "camera+awgn:5-50"


def noisy_crops(photos_dir: Path, tile: int, count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``count`` seeded ``tile`` crops of the clean photos in ``photos_dir`` and their noisy versions (the training
    noise mixture), NCHW float32."""
    files = list_images(photos_dir) if photos_dir.is_dir() else []
    if not files:
        raise InvdnError(f"{photos_dir}: no photos for calibration (pass a folder of clean photos)")
    crops = CropDataset(load_uint8(files, tile), tile, seed)
    clean = torch.stack([crops[i] for i in range(count)])
    noisy = parse_noise(CALIBRATION_NOISE)(clean, torch.Generator().manual_seed(seed))
    return clean.numpy(), noisy.numpy()


def sample_photos(kind: str, given: Path | None = None) -> Path:
    """``given``, or the default photo folder ``samples/<kind>`` (``heldout``: parity, ``clean``: the INT8 search,
    ``calibration``: INT8 calibration): the working folder's when it has one, else the one of the source checkout this
    package runs from; with neither, a one-line error that says what to pass."""
    if given is not None:
        return Path(given)
    for folder in (Path("samples") / kind, Path(__file__).resolve().parents[2] / "samples" / kind):
        if folder.is_dir():
            return folder
    option = "--calibration" if kind == "calibration" else "--images"
    raise InvdnError(f"no samples/{kind} folder here or in the package's checkout: pass {option} DIR (clean photos)")


def generated_crops(tile: int, seed: int, denoiser) -> np.ndarray:
    """The noisy crops of :func:`generated_pairs` (INT8 calibration). NCHW float32."""
    return generated_pairs(tile, seed, denoiser)[1]


def generated_pairs(tile: int, seed: int, denoiser) -> tuple[np.ndarray, np.ndarray]:
    """The generated stress photos of the calibration seeds (never the parity gate's), one ``tile`` crop each (their
    centre; mirrored up to the tile where the photo is smaller), clean and with the training noise mixture (stored as
    8-bit values); only the crops on which ``denoiser`` (the PyTorch FP32 model at this tile and z) stays within its
    domain (:data:`~invdn_mobile.gates.INT8_GATE`'s margin around [0, 1]): where the float model itself fails, its
    activations are no range to calibrate for (they would widen every range for nothing), and no drop to measure.
    NCHW float32."""
    from invdn_mobile.gates import INT8_GATE
    from invdn_mobile.parity import in_domain
    from invdn_mobile.stress import calibration_photos

    crops = []
    for _, clean in calibration_photos():
        h, w = clean.shape[:2]
        if h < tile or w < tile:
            clean = np.pad(clean, ((0, max(0, tile - h)), (0, max(0, tile - w)), (0, 0)), mode="symmetric")
        y, x = (clean.shape[0] - tile) // 2, (clean.shape[1] - tile) // 2
        crops.append(clean[y : y + tile, x : x + tile].transpose(2, 0, 1))
    clean_t = torch.from_numpy(np.ascontiguousarray(np.stack(crops)))
    noisy = parse_noise(CALIBRATION_NOISE)(clean_t, torch.Generator().manual_seed(seed))
    noisy = torch.round(noisy.clamp(0, 1) * 255.0) / 255.0
    keep = []
    with torch.no_grad():
        for item in noisy:
            out = denoiser(item[None])
            keep.append(in_domain(out.numpy(), INT8_GATE.domain))
    keep = torch.tensor(keep, dtype=torch.bool)
    return clean_t[keep].numpy(), noisy[keep].numpy()


def calibration_data(
    photos_dir: Path | None, tile: int, count: int, z: np.ndarray | None, seed: int = 0, denoiser=None
) -> list[dict]:
    """``count`` noisy ``tile`` crops (training noise mixture) from clean photos (default ``samples/calibration``),
    and with ``denoiser`` (the PyTorch FP32 model at this tile and z) the generated stress crops it handles
    (:func:`generated_crops`), as NCHW feeds ``{"image", "z"}`` (backends convert the layout)."""
    _, noisy = noisy_crops(sample_photos("calibration", photos_dir), tile, count, seed)
    if denoiser is not None:
        noisy = np.concatenate([noisy, generated_crops(tile, seed, denoiser)])
    feeds = []
    for item in noisy:
        feed = {"image": item[None].astype(np.float32)}
        if z is not None:
            feed["z"] = z
        feeds.append(feed)
    return feeds
