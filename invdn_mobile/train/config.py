"""Training configuration: a flat TOML file; every key is a field of :class:`TrainConfig`."""

from __future__ import annotations

import math
import tomllib
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from invdn_mobile.errors import InvdnError


@dataclass
class TrainConfig:
    variant: str = "paper"
    data: str = "data/photos/train"
    out: str = "runs/train"
    noise: str = "camera+awgn:5-50"
    crop: int = 144
    scale_min: float = 1.0  # < 1: crops also from the photos seen at scales down to this (denser detail per pixel)
    batch: int = 14
    workers: int = 0
    val_fraction: float = 0.15
    val_crop: int = 128
    steps: int = 200_000
    max_minutes: float | None = None  # stop (with a checkpoint and weights) when this wall time is used up
    lr: float = 2e-4
    lr_schedule: str = "step"  # step: halve at lr_halve_at; cosine: warm-up, then cosine decay to 0 at the horizon
    lr_halve_at: list[int] = field(default_factory=lambda: [50_000, 100_000, 150_000])
    warmup_steps: int = 0  # linear warm-up from 0 (cosine schedule)
    # cosine with max_minutes: after `calibrate_steps` steps the horizon becomes the steps that fit in the time budget
    # at the measured rate (min with `steps`), recorded in the checkpoint so that a resume keeps it
    calibrate_steps: int = 50
    clip: float = 10.0
    lambda_forw: float = 16.0
    lambda_back: float = 1.0
    autocast: str = "auto"  # auto (bf16 where fast: CUDA, or a CPU with AVX-512 BF16), bf16, none
    channels_last: str = "auto"  # auto (CUDA only: on CPU it made training 8x slower here), on, off
    cuda_graphs: str = "auto"  # auto (on for CUDA): the whole step (loss, backward, clip, Adam) as one CUDA graph; off
    device: str = "auto"
    threads: int = 0  # torch CPU threads; 0 keeps torch's default (all cores)
    seed: int = 0
    init: str | None = None  # warm start: weights (.safetensors) loaded before step 0 when there is no checkpoint
    checkpoint_every: int = 100
    val_every: int = 250
    log_every: int = 10
    # under torchrun: how long a rank waits for the others (forming the world, each collective) before the run stops
    # with one line instead of hanging
    dist_timeout_s: float = 300.0

    def to_dict(self) -> dict:
        return asdict(self)


CHOICES = {
    "lr_schedule": ("step", "cosine"),
    "autocast": ("auto", "bf16", "none"),
    "channels_last": ("auto", "on", "off"),
    "cuda_graphs": ("auto", "off"),
}


def _fits(value, annotation: str) -> bool:
    """Whether a TOML value fits a field annotated ``int``, ``float``, ``str``, ``list[int]`` or ``X | None``."""
    if annotation.endswith(" | None"):
        return value is None or _fits(value, annotation[: -len(" | None")])
    if annotation == "list[int]":
        return isinstance(value, list) and all(_fits(v, "int") for v in value)
    if annotation == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if annotation == "float":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, str)


def load_config(path: Path | None, **overrides) -> TrainConfig:
    values: dict = {}
    if path is not None:
        try:
            values = tomllib.loads(Path(path).read_text())
        except FileNotFoundError:
            raise InvdnError(f"{path}: config file not found") from None
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise InvdnError(f"{path}: invalid TOML ({exc})") from None
    known = {f.name for f in fields(TrainConfig)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise InvdnError(f"{path}: unknown config keys {unknown}; known: {sorted(known)}")
    values.update({k: v for k, v in overrides.items() if v is not None})
    types = {f.name: f.type for f in fields(TrainConfig)}
    where = path or "config"
    for key, value in values.items():
        if not _fits(value, types[key]):
            raise InvdnError(f"{where}: {key} = {value!r} is not a valid {types[key]}")
        if isinstance(value, float) and not math.isfinite(value):
            raise InvdnError(f"{where}: {key} must be a finite number, got {value}")
    config = TrainConfig(**values)
    for name in ("batch", "crop", "val_crop", "steps", "log_every", "checkpoint_every", "val_every", "calibrate_steps"):
        if getattr(config, name) < 1:
            raise InvdnError(f"{where}: {name} must be at least 1, got {getattr(config, name)}")
    for name in ("workers", "threads", "warmup_steps"):
        if getattr(config, name) < 0:
            raise InvdnError(f"{where}: {name} must be at least 0, got {getattr(config, name)}")
    for name in ("lr", "clip", "dist_timeout_s"):
        if not getattr(config, name) > 0:
            raise InvdnError(f"{where}: {name} must be positive, got {getattr(config, name)}")
    if config.max_minutes is not None and not config.max_minutes > 0:
        raise InvdnError(f"{where}: max_minutes must be positive, got {config.max_minutes}")
    if not 0 <= config.val_fraction < 1:
        raise InvdnError(f"{where}: val_fraction must be in [0, 1), got {config.val_fraction}")
    if config.crop % 4 or config.val_crop % 4:
        raise InvdnError("crop and val_crop must be multiples of 4")
    for name, allowed in CHOICES.items():
        if getattr(config, name) not in allowed:
            raise InvdnError(f"{name} = {getattr(config, name)!r}: choose one of {', '.join(allowed)}")
    return config
