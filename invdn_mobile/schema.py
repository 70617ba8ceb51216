"""Typed configuration: the one validation library (pydantic) for everything the package reads from a file — export
recipes, the training config, the weights' JSON sidecar and its strength curve — and the one way a value that does
not fit becomes a one-line error naming the file, the key and the reason.

The schemas of the weights sidecar and of the strength curve live here, below both the model (which reads and writes
the sidecar) and the strength code (which evaluates the curve), so neither imports the other for them.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from invdn_mobile.errors import InvdnError

M = TypeVar("M", bound=BaseModel)

# the noise estimator the strength curves are fitted against (a curve fitted with another cannot be evaluated here)
ESTIMATOR = "donoho-haar-diagonal-mad-v1"


class Strict(BaseModel):
    """A schema that refuses unknown keys and values of the wrong type (no ``"no"`` for a bool, no string for a list,
    no bool for a number); an int is accepted where a float is asked."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


def _where(loc: tuple) -> str:
    """``a.b.0`` for a location; the tags pydantic adds for a union's members (``list[str]``) are left out."""
    return ".".join(str(p) for p in loc if not (isinstance(p, str) and "[" in p)) or "(top level)"


def one_line(exc: ValidationError, source: Path | str, what: str = "") -> InvdnError:
    """The first problem of a failed validation as one line: ``source: what key: reason (got value)``."""
    err = exc.errors(include_url=False)[0]
    key, kind = _where(err["loc"]), err["type"]
    prefix = f"{source}: {what + ': ' if what else ''}"
    if kind == "extra_forbidden":
        return InvdnError(f"{prefix}unknown key {key!r}")
    if kind == "missing":
        return InvdnError(f"{prefix}{key} is missing")
    reason = re.sub(r" or instance of \w+", "", err["msg"].removeprefix("Value error, "))
    reason = reason.replace("Input should", "must")
    if err["loc"]:
        return InvdnError(f"{prefix}{key} = {err.get('input')!r}: {reason}")
    return InvdnError(f"{prefix}{reason}")


def checked(schema: type[M], data: Any, source: Path | str, what: str = "") -> M:
    """``data`` validated against ``schema``; any problem is one :class:`InvdnError` line (see :func:`one_line`)."""
    if not isinstance(data, dict):
        raise InvdnError(f"{source}: {what + ' ' if what else ''}must be an object, got {type(data).__name__}")
    try:
        return schema.model_validate(data)
    except ValidationError as exc:
        raise one_line(exc, source, what) from None


Finite = Annotated[float, Field(allow_inf_nan=False)]


class StrengthSpec(Strict):
    """A noise-adaptive strength curve as stored (weights sidecar, manifests): piecewise linear in the estimated
    sigma, constant beyond the end knots."""

    model_config = ConfigDict(extra="ignore", strict=True, frozen=True)  # "formula": a human-readable note

    estimator: str = ESTIMATOR
    sigma: list[Finite] = Field(min_length=1)
    strength: list[Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)]] = Field(min_length=1)
    calibration: dict | None = None

    @field_validator("estimator")
    @classmethod
    def _known_estimator(cls, v: str) -> str:
        if v != ESTIMATOR:
            raise ValueError(f"is not {ESTIMATOR!r} (written by a newer version?)")
        return v

    @field_validator("sigma")
    @classmethod
    def _increasing(cls, v: list[float]) -> list[float]:
        if v[0] < 0 or any(b <= a for a, b in zip(v, v[1:])):
            raise ValueError("sigma must be increasing from >= 0")
        return v

    @model_validator(mode="after")
    def _same_length(self) -> StrengthSpec:
        if len(self.sigma) != len(self.strength):
            raise ValueError("sigma and strength must be lists of the same length")
        return self


class ZSpec(Strict):
    """The fixed z_HF of the deployable denoiser: a seeded Gaussian sample times ``scale``."""

    model_config = ConfigDict(extra="allow", strict=True, frozen=True)

    seed: int = Field(default=0, ge=0, lt=2**63)
    scale: Annotated[float, Field(ge=0.0, allow_inf_nan=False)] = 1.0


PositiveInt = Annotated[int, Field(gt=0)]
PositiveNumber = Annotated[float, Field(gt=0, allow_inf_nan=False)]


class SidecarSpec(Strict):
    """The weights' JSON metadata (sidecar ``*.json`` or the safetensors header): the keys the package reads are
    typed; the rest (lineage, training notes, dates) is kept as written."""

    model_config = ConfigDict(extra="allow", strict=True, frozen=True)

    variant: str | None = None
    config: dict | None = None  # the network's shape: typed by the model layer (model.checkpoint)
    z: ZSpec = ZSpec()
    strength: StrengthSpec | None = None
