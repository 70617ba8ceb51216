"""Device selection shared by every command."""

from __future__ import annotations

import torch

from invdn_mobile.errors import InvdnError


def pick_device(name: str = "auto") -> torch.device:
    """``auto`` (CUDA when present, else CPU), ``cpu`` or ``cuda``; asking for CUDA without one is an error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise InvdnError("--device cuda asked for, but PyTorch sees no CUDA GPU on this machine")
    if name not in ("cpu",) and not name.startswith("cuda"):
        raise InvdnError(f"unknown device {name!r}: use cpu, cuda or auto")
    return torch.device(name)
