"""Training configuration: a flat TOML file; every key is a field of :class:`TrainConfig` (typed: one-line errors for
an unknown key, a wrong type or a value out of range)."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, model_validator

from invdn_mobile.errors import InvdnError
from invdn_mobile.schema import Strict, checked

Positive = Annotated[float, Field(gt=0, allow_inf_nan=False)]
AtLeast1 = Annotated[int, Field(ge=1)]
AtLeast0 = Annotated[int, Field(ge=0)]


class TrainConfig(Strict):
    variant: str = "paper"
    data: str = "data/photos/train"
    out: str = "runs/train"
    noise: str = "camera+awgn:5-50"
    crop: AtLeast1 = 144
    scale_min: Annotated[float, Field(allow_inf_nan=False)] = 1.0  # < 1: crops also from photos at scales down to it
    batch: AtLeast1 = 14
    workers: AtLeast0 = 0
    val_fraction: Annotated[float, Field(ge=0, lt=1)] = 0.15
    val_crop: AtLeast1 = 128
    steps: AtLeast1 = 200_000
    max_minutes: Positive | None = None  # stop (with a checkpoint and weights) when this wall time is used up
    lr: Positive = 2e-4
    # step: halve at lr_halve_at; cosine: warm-up, then cosine decay to 0 at the horizon
    lr_schedule: Literal["step", "cosine"] = "step"
    lr_halve_at: list[int] = [50_000, 100_000, 150_000]
    warmup_steps: AtLeast0 = 0  # linear warm-up from 0 (cosine schedule)
    # cosine with max_minutes: after `calibrate_steps` steps the horizon becomes the steps that fit in the time budget
    # at the measured rate (min with `steps`), recorded in the checkpoint so that a resume keeps it
    calibrate_steps: AtLeast1 = 50
    clip: Positive = 10.0
    lambda_forw: Annotated[float, Field(allow_inf_nan=False)] = 16.0
    lambda_back: Annotated[float, Field(allow_inf_nan=False)] = 1.0
    autocast: Literal["auto", "bf16", "none"] = "auto"  # auto: bf16 where fast (CUDA, or a CPU with AVX-512 BF16)
    channels_last: Literal["auto", "on", "off"] = "auto"  # auto: CUDA only (on CPU it made training 8x slower here)
    # auto (on for CUDA): the whole step (loss, backward, clip, Adam) as one CUDA graph; off
    cuda_graphs: Literal["auto", "off"] = "auto"
    device: str = "auto"
    threads: AtLeast0 = 0  # torch CPU threads; 0 keeps torch's default (all cores)
    seed: int = 0
    init: str | None = None  # warm start: weights (.safetensors) loaded before step 0 when there is no checkpoint
    checkpoint_every: AtLeast1 = 100
    val_every: AtLeast1 = 250
    log_every: AtLeast1 = 10
    # under torchrun: how long a rank waits for the others (forming the world, each collective) before the run stops
    # with one line instead of hanging
    dist_timeout_s: Positive = 300.0

    @model_validator(mode="after")
    def _multiples_of_4(self) -> TrainConfig:
        if self.crop % 4 or self.val_crop % 4:
            raise ValueError("crop and val_crop must be multiples of 4")
        return self

    def to_dict(self) -> dict:
        return self.model_dump()


def load_config(path: Path | None, **overrides) -> TrainConfig:
    """The training config from a flat TOML file (every key a field of :class:`TrainConfig`) and keyword overrides
    (None: not given); one-line errors naming the file and key."""
    values: dict = {}
    if path is not None:
        try:
            values = tomllib.loads(Path(path).read_text())
        except FileNotFoundError:
            raise InvdnError(f"{path}: config file not found") from None
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise InvdnError(f"{path}: invalid TOML ({exc})") from None
    values.update({k: v for k, v in overrides.items() if v is not None})
    return checked(TrainConfig, values, path or "options", "training config")
