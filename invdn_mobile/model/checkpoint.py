"""Weights on disk: ``NAME.safetensors`` plus ``NAME.json`` (variant, config, z seed, training provenance).

Also loads the authors' InvDN checkpoints (``.pth`` state dicts of their ``InvNet``), mapping their names to ours.
"""

from __future__ import annotations

import json
import pickle
import re
from dataclasses import fields
from pathlib import Path
from typing import Any

import torch
from pydantic import create_model

from invdn_mobile.atomic import atomic_path
from invdn_mobile.errors import InvdnError, first_line
from invdn_mobile.model.haar import haar_kernel
from invdn_mobile.model.invdn import InvDN
from invdn_mobile.model.variants import VariantConfig, get_variant, variant_name
from invdn_mobile.schema import PositiveInt, PositiveNumber, SidecarSpec, Strict, checked

WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"


def default_weights(variant: str = "paper") -> Path | None:
    """The bundled weights of ``variant``, or None where none are shipped."""
    path = WEIGHTS_DIR / f"invdn-{variant}.safetensors"
    return path if path.is_file() else None


def sidecar(path: Path) -> Path:
    return Path(path).with_suffix(".json")


def save_weights(path: Path, model: InvDN, meta: dict[str, Any] | None = None) -> None:
    """Write ``path`` (safetensors) and its JSON sidecar atomically."""
    from safetensors.torch import save_file

    path = Path(path)
    info = {"variant": variant_name(model.config), "config": model.config.to_dict(), **(meta or {})}
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    with atomic_path(path) as tmp:
        save_file(state, str(tmp), metadata={"invdn": json.dumps(info)})
    with atomic_path(sidecar(path)) as tmp:
        tmp.write_text(json.dumps(info, indent=2) + "\n")


def write_meta(path: Path, meta: dict[str, Any]) -> Path:
    """Replace the JSON sidecar of weights ``path`` (it overrides the safetensors header's copy), atomically."""
    _checked_meta(meta, sidecar(path))
    with atomic_path(sidecar(path)) as tmp:
        tmp.write_text(json.dumps(meta, indent=2) + "\n")
    return sidecar(path)


def read_meta(path: Path) -> dict[str, Any]:
    """The JSON metadata of a weights file (from the sidecar, else the safetensors header), checked: ``config``, when
    present, is a valid :class:`VariantConfig` and ``z`` is always ``{"seed": int, "scale": float}``."""
    path = Path(path)
    if sidecar(path).is_file():
        source = sidecar(path)
        try:
            meta = json.loads(source.read_text())
        except (OSError, ValueError) as exc:
            raise InvdnError(f"{source}: unreadable weights metadata ({exc})") from None
    else:
        from safetensors import safe_open

        source = path
        try:
            with safe_open(str(path), "pt") as f:
                meta = json.loads((f.metadata() or {}).get("invdn", "{}"))
        except Exception as exc:  # safetensors raises several types for a bad header
            raise InvdnError(f"{path}: not a safetensors weights file ({exc})") from None
    return _checked_meta(meta, source)


_VariantSpec = create_model(
    "VariantConfig",
    __base__=Strict,
    **{f.name: (PositiveInt if f.type == "int" else PositiveNumber, f.default) for f in fields(VariantConfig)},
)


class _Sidecar(SidecarSpec):
    config: _VariantSpec = None  # type: ignore[valid-type,assignment]  # absent: the variant's; never null


def _checked_meta(meta: Any, source: Path) -> dict[str, Any]:
    """``meta`` checked against the sidecar schema (one-line errors naming ``source``), with ``z`` filled in from
    the defaults."""
    spec = checked(_Sidecar, meta, source, "weights metadata")
    return {**meta, "z": {**meta.get("z", {}), "seed": spec.z.seed, "scale": float(spec.z.scale)}}


def load_weights(path: Path, variant: str | None = None, inverse_mode: str = "transpose") -> tuple[InvDN, dict]:
    """Build the network recorded in ``path``'s metadata and load its weights.

    ``variant``, when given, must match the file's recorded variant (loading the wrong one is an error).
    """
    path = Path(path)
    if not path.is_file():
        raise InvdnError(f"{path}: weights file not found")
    if path.suffix == ".pth":
        model = load_official(path, get_variant(variant or "paper"), inverse_mode)
        return model, _checked_meta({"variant": variant or "paper"}, path)
    meta = read_meta(path)
    recorded = meta.get("variant")
    config = VariantConfig(**meta["config"]) if "config" in meta else get_variant(recorded or variant or "paper")
    if variant is not None and recorded != variant and config != get_variant(variant):
        held = f"variant {recorded!r}" if recorded else f"a custom network ({config})"
        raise InvdnError(f"{path} holds {held}, not {variant!r}")
    from safetensors.torch import load_file

    try:
        state = load_file(str(path))
    except Exception as exc:
        raise InvdnError(f"{path}: not a safetensors weights file ({exc})") from None
    model = InvDN(config, inverse_mode)
    _load_state(model, state, path)
    return model.eval(), meta


def _load_state(model: InvDN, state: dict[str, torch.Tensor], path: Path) -> None:
    ours = model.state_dict()
    missing = sorted(set(ours) - set(state))
    unexpected = sorted(set(state) - set(ours))
    wrong = sorted(k for k in set(ours) & set(state) if ours[k].shape != state[k].shape)
    if missing or unexpected or wrong:
        detail = (missing[:2] and f"missing {missing[:2]}") or (unexpected[:2] and f"unexpected {unexpected[:2]}")
        raise InvdnError(f"{path}: weights do not fit this network ({detail or f'shape of {wrong[:2]}'})")
    model.load_state_dict(state)


# Authors' names: operations.{i}.{F|G|H}.conv{1,2,3}.{weight|bias}, operations.{i}.haar_weights, where i walks the
# flat list [haar, block x blocks, haar, block x blocks, ...]. Ours: scales.{s}.blocks.{b}.{F|G|H}.conv{k}.{...}.
_OFFICIAL = re.compile(r"^(?:module\.)?operations\.(\d+)\.(.+)$")


def official_name(index: int, rest: str, config: VariantConfig) -> str | None:
    """Our parameter name for the authors' ``operations.{index}.{rest}``; None for a Haar kernel."""
    per_scale = config.blocks + 1
    scale, offset = divmod(index, per_scale)
    if scale >= config.scales:
        raise InvdnError(f"official checkpoint has operation {index}, beyond a {config.scales}-scale network")
    if offset == 0:
        if rest != "haar_weights":
            raise InvdnError(f"official checkpoint: unexpected Haar entry operations.{index}.{rest}")
        return None
    return f"scales.{scale}.blocks.{offset - 1}.{rest}"


def convert_official(state: dict[str, torch.Tensor], config: VariantConfig) -> dict[str, torch.Tensor]:
    """Map an official InvDN state dict onto our names; checks Haar kernels equal ours."""
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        match = _OFFICIAL.match(key)
        if not match:
            raise InvdnError(f"official checkpoint: unexpected entry {key!r}")
        index, rest = int(match.group(1)), match.group(2)
        name = official_name(index, rest, config)
        if name is None:
            scale = index // (config.blocks + 1)
            channels = config.in_channels * 4**scale
            # Theirs is the grouped kernel (4C, 1, 2, 2) with filters repeated per channel, unscaled.
            expected = torch.cat([4.0 * haar_kernel(1)] * channels, 0)
            if value.shape != expected.shape or not torch.equal(value.float().cpu(), expected):
                raise InvdnError(f"official checkpoint: {key} is not the Haar kernel")
            continue
        out[name] = value
    return out


def load_official(path: Path, config: VariantConfig, inverse_mode: str = "transpose") -> InvDN:
    """Load an authors' ``.pth`` checkpoint into our :class:`InvDN`."""
    try:
        state = torch.load(str(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:  # torch's safe loader refused it (its message is a page of advice)
        raise InvdnError(f"{path}: not a PyTorch checkpoint (corrupt, or holds objects other than tensors)") from None
    except Exception as exc:
        raise InvdnError(f"{path}: not a PyTorch checkpoint ({first_line(exc)})") from None
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    if not (
        isinstance(state, dict) and all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items())
    ):
        raise InvdnError(f"{path}: not an InvDN checkpoint (expected a state dict of named tensors)")
    model = InvDN(config, inverse_mode)
    _load_state(model, convert_official(state, config), path)
    return model.eval()
