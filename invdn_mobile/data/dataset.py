"""Training crops from any folder of clean photos: random crops, flips and 90-degree rotations.

Sample ``i`` is a pure function of ``(seed, i)``, so a run is reproducible and resumes exactly whatever the number of
worker processes. Noise is added later, on the training device, by a noise model (``invdn_mobile.noise``).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from invdn_mobile.errors import InvdnError
from invdn_mobile.imageio import list_images, read_image


def split_files(folder: Path, val_fraction: float) -> tuple[list[Path], list[Path]]:
    """Deterministic train/validation split by a hash of each file name (stable when files are added)."""
    files = list_images(folder)
    if not files:
        raise InvdnError(f"{folder}: no photos found (expected .png/.jpg/... files)")
    if val_fraction <= 0 or len(files) < 2:
        return files, []
    ranked = sorted(files, key=lambda p: hashlib.sha256(p.name.encode()).hexdigest())
    n_val = max(1, round(len(files) * val_fraction))
    val = set(ranked[:n_val])
    return [f for f in files if f not in val], [f for f in files if f in val]


def load_uint8(files: list[Path], crop: int) -> list[np.ndarray]:
    """Decode photos to uint8 HWC RGB; skips none silently: a photo smaller than ``crop`` is an error."""
    images = []
    for f in files:
        photo = read_image(f)
        if min(photo.size) < crop:
            raise InvdnError(f"{f}: {photo.size[1]}x{photo.size[0]} is smaller than the {crop}px training crop")
        images.append(np.round(photo.rgb * 255.0).astype(np.uint8))
    return images


def augment(patch: np.ndarray, code: int) -> np.ndarray:
    """One of the 8 flip/rotate variants (``code`` in 0..7): rot90 ``code % 4`` times, then flip if ``code >= 4``."""
    patch = np.rot90(patch, code % 4)
    if code >= 4:
        patch = patch[:, ::-1]
    return patch


class CropDataset(Dataset):
    """``dataset[i]`` -> float32 ``(3, crop, crop)`` clean crop in [0, 1]; any index is valid (infinite stream).

    With ``scale_min`` < 1 each crop is taken from the photo seen at a random scale in ``[scale_min, 1]`` (log-uniform;
    a larger region reduced with area averaging): the same photos then also show the denser detail per pixel of
    smaller or more distant scenes."""

    def __init__(self, images: list[np.ndarray], crop: int, seed: int, scale_min: float = 1.0) -> None:
        if not 0 < scale_min <= 1:
            raise InvdnError(f"scale_min must be in (0, 1], got {scale_min}")
        self.images = images
        self.crop = crop
        self.seed = seed
        self.scale_min = scale_min
        # Sample photos in proportion to their area so every pixel is equally likely.
        areas = np.array([im.shape[0] * im.shape[1] for im in images], dtype=np.float64)
        self.cdf = np.cumsum(areas) / areas.sum()

    def __len__(self) -> int:
        return 2**62

    def __getitem__(self, index: int) -> torch.Tensor:
        rng = np.random.default_rng([self.seed, index])
        k = min(int(np.searchsorted(self.cdf, rng.random(), side="right")), len(self.images) - 1)
        image = self.images[k]
        size = self.crop
        if self.scale_min < 1:
            scale = float(np.exp(rng.uniform(np.log(self.scale_min), 0.0)))
            size = min(round(self.crop / scale), *image.shape[:2])
        y = int(rng.integers(0, image.shape[0] - size + 1))
        x = int(rng.integers(0, image.shape[1] - size + 1))
        patch = image[y : y + size, x : x + size]
        if size != self.crop:
            patch = cv2.resize(patch, (self.crop, self.crop), interpolation=cv2.INTER_AREA)
        patch = augment(patch, int(rng.integers(0, 8)))
        return torch.from_numpy(np.ascontiguousarray(patch).transpose(2, 0, 1).astype(np.float32) / 255.0)


def shard(step: int, batch: int, rank: int = 0, ranks: int = 1) -> range:
    """The sample indices of rank ``rank`` at step ``step``: the global batch of step ``step`` is the ``batch * ranks``
    samples from ``step * batch * ranks``, and rank ``rank`` takes the ``batch`` of them from ``rank * batch`` (one
    rank: ``step * batch ..``)."""
    first = (step * ranks + rank) * batch
    return range(first, first + batch)


class ShardSampler(Sampler):
    """This rank's indices for ``steps`` steps from ``start_step`` (:func:`shard`): the loader resumes at any step."""

    def __init__(self, start_step: int, steps: int, batch: int, rank: int = 0, ranks: int = 1) -> None:
        self.start_step, self.steps, self.batch, self.rank, self.ranks = start_step, steps, batch, rank, ranks

    def __iter__(self):
        for step in range(self.start_step, self.start_step + self.steps):
            yield from shard(step, self.batch, self.rank, self.ranks)

    def __len__(self) -> int:
        return self.steps * self.batch


def crop_loader(
    dataset: CropDataset,
    batch: int,
    start_step: int,
    steps: int,
    workers: int,
    pin_memory: bool = False,
    rank: int = 0,
    ranks: int = 1,
) -> DataLoader:
    return DataLoader(
        dataset,
        batch_size=batch,
        sampler=ShardSampler(start_step, steps, batch, rank, ranks),
        num_workers=workers,
        pin_memory=pin_memory,
        persistent_workers=False,
        worker_init_fn=_one_thread,
    )


def _one_thread(_worker: int) -> None:
    """Data workers run side by side: OpenCV's own thread pool in each would only oversubscribe the cores."""
    cv2.setNumThreads(1)


def center_crops(images: list[np.ndarray], crop: int, per_image: int = 2) -> torch.Tensor:
    """Fixed validation crops: ``per_image`` evenly spaced crops along each photo's diagonal."""
    crops = []
    for image in images:
        h, w = image.shape[:2]
        for t in np.linspace(0.25, 0.75, per_image):
            y, x = int((h - crop) * t), int((w - crop) * t)
            crops.append(image[y : y + crop, x : x + crop].transpose(2, 0, 1).astype(np.float32) / 255.0)
    return torch.from_numpy(np.stack(crops))
