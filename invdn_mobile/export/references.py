"""The parity references of an export, made once: the parity set's cases, the PyTorch FP32 outputs on them and the
FP16-arithmetic row of its weights. They depend on the weights, the tile, z, the photos and noises, and the code that
makes them — not on the artifact — so every artifact of the same weights reuses them: within a process (a dict) and
across processes (files in the cache folder, :func:`cache_dir`). A cache file is named by a hash of everything it
depends on (the weights' and the held-out photos' sha256, tile, z seed and scale, photo sets, noises, the gate of the
FP16 row, the package's source and the versions of torch, numpy and scikit-image), so a change to any of them makes a
new name and the old file is simply not read again; a file that cannot be read is recomputed and rewritten.

``INVDN_CACHE`` sets the cache folder (default ``$XDG_CACHE_HOME/invdn-mobile``, else ``~/.cache/invdn-mobile``);
``INVDN_CACHE=off`` keeps everything in the process.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import zipfile
from dataclasses import asdict
from pathlib import Path

import numpy as np

from invdn_mobile.atomic import atomic_path
from invdn_mobile.export.manifest import sha256
from invdn_mobile.export.photos import sample_photos
from invdn_mobile.gates import Gate
from invdn_mobile.imageio import list_images
from invdn_mobile.model import Denoiser
from invdn_mobile.parity import (
    PHOTO_SETS,
    Case,
    ParityRow,
    ParitySet,
    add_references,
    fp16_compute_row,
    parity_cases,
)

PACKAGE = Path(__file__).resolve().parents[1]
_SETS: dict[str, ParitySet] = {}  # this process's parity sets, by key


def cache_dir() -> Path | None:
    """Where parity references are kept between processes; None with ``INVDN_CACHE=off``."""
    value = os.environ.get("INVDN_CACHE", "")
    if value.lower() == "off":
        return None
    if value:
        return Path(value) / "parity"
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "invdn-mobile" / "parity"


@functools.cache
def code_digest() -> str:
    """sha256 of the package's Python source and the versions of the libraries its outputs depend on: a change to
    the model, the tiler, the noise or the stress photos gives new references."""
    import skimage
    import torch

    h = hashlib.sha256(f"torch {torch.__version__} numpy {np.__version__} skimage {skimage.__version__}".encode())
    for path in sorted(PACKAGE.rglob("*.py")):
        h.update(str(path.relative_to(PACKAGE)).encode() + b"\0" + path.read_bytes())
    return h.hexdigest()


def reference_key(weights_path: Path, tile: int, seed: int, scale: float, images: Path | None, noises, sets) -> str:
    """The name of a parity set's references: a hash of everything they depend on."""
    photos = [(f.name, sha256(f)) for f in list_images(Path(images))] if images is not None else []
    parts = {
        "weights": sha256(weights_path),
        "tile": tile,
        "z": [seed, scale],
        "photos": photos,
        "noises": list(noises),
        "sets": list(sets),
        "code": code_digest(),
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:32]


def parity_reference(
    model, weights_path: Path, tile: int, seed: int, scale: float, images: Path | None, noises, sets=PHOTO_SETS
) -> ParitySet:
    """The parity set (the photo ``sets``: ``images``, default ``samples/heldout``, and the stress photos, at every
    noise level of ``noises``) and the PyTorch FP32 outputs on it: from this process, from the cache folder, or
    computed (and stored there)."""
    images = sample_photos("heldout", images) if "heldout" in sets else None
    key = reference_key(weights_path, tile, seed, scale, images, noises, sets)
    if key in _SETS:
        return _SETS[key]
    denoiser = Denoiser(model, tile=(tile, tile), seed=seed, z_scale=scale).eval()
    folder = cache_dir()
    pset = _load(folder / f"{key}.npz", tile, noises) if folder else None
    if pset is None:
        pset = add_references(parity_cases(images, tuple(noises), tile, sets=tuple(sets)), denoiser)
        if folder:
            _save(folder / f"{key}.npz", pset)
    pset.denoiser, pset.key = denoiser, key
    _SETS[key] = pset
    return pset


def fp16_row(name: str, fmt: str, precision: str, pset: ParitySet, gate: Gate) -> ParityRow:
    """:func:`invdn_mobile.parity.fp16_compute_row`, its measurement kept in the cache folder beside the
    references (the gate is part of the file's name)."""
    folder = cache_dir()
    path = None
    if folder and pset.key:
        digest = hashlib.sha256(json.dumps(asdict(gate), sort_keys=True).encode()).hexdigest()[:12]
        path = folder / f"{pset.key}-fp16-{digest}.json"
        if pset.fp16_compute is None and path.is_file():
            try:
                pset.fp16_compute = ParityRow.from_dict(json.loads(path.read_text()))
            except (OSError, ValueError, TypeError, KeyError):
                pset.fp16_compute = None  # unreadable: measured again below
    stored = pset.fp16_compute is not None
    row = fp16_compute_row(name, fmt, precision, pset, gate)
    if path is not None and not stored:
        with atomic_path(path) as tmp:
            tmp.write_text(json.dumps(pset.fp16_compute.to_dict()))
    return row


def _save(path: Path, pset: ParitySet) -> None:
    arrays = {"reference_tiled": pset.tiled_reference} if pset.tiled is not None else {}
    if pset.tiled is not None:
        arrays["tiled"] = _codes(pset.tiled)
    for i, (case, ref) in enumerate(zip(pset.cases, pset.reference)):
        arrays |= {f"clean{i}": case.clean, f"noisy{i}": _codes(case.noisy), f"reference{i}": ref}
    meta = {"photos": pset.photos, "cases": [[c.photo, c.noise] for c in pset.cases]}
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, meta=np.array(json.dumps(meta)), **arrays)


def _load(path: Path, tile: int, noises) -> ParitySet | None:
    """A stored parity set, or None when there is none or it cannot be read (then it is recomputed)."""
    if not path.is_file():
        return None
    try:
        with np.load(path) as data:
            meta = json.loads(str(data["meta"]))
            cases = [
                Case(photo, noise, data[f"clean{i}"], _values(data[f"noisy{i}"]))
                for i, (photo, noise) in enumerate(meta["cases"])
            ]
            tiled = _values(data["tiled"]) if "tiled" in data else None
            pset = ParitySet(meta["photos"], tuple(noises), tile, cases, tiled)
            pset.reference = [data[f"reference{i}"] for i in range(len(cases))]
            pset.tiled_reference = data["reference_tiled"] if "tiled" in data else None
    except (OSError, ValueError, KeyError, TypeError, EOFError, zipfile.BadZipFile):
        return None
    return pset


def _codes(eight_bit: np.ndarray) -> np.ndarray:
    """8-bit values stored as their codes (exact: they are k / 255)."""
    return np.round(eight_bit * np.float32(255.0)).astype(np.uint8)


def _values(codes: np.ndarray) -> np.ndarray:
    return (codes.astype(np.float32) / np.float32(255.0)).astype(np.float32)
