"""The paper's noise generation (section 4.6): ``z' = z + epsilon * v``, ``v ~ N(0, I)``, then the reverse pass
with the photo's own LR channels gives the same clean content with new noise (epsilon = 2e-4 in the paper)."""

from __future__ import annotations

import numpy as np
import torch

from invdn_mobile.model.invdn import InvDN


def perturb_fn(model: InvDN, epsilon: float, seed: int, device):
    """NCHW numpy -> NCHW numpy: ``reverse(forward(x) + [0, epsilon * v])`` with ``v`` seeded by ``seed``."""
    generator = torch.Generator().manual_seed(seed)

    @torch.inference_mode()
    def fn(batch: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(batch).to(device)
        latent = model(x)
        v = torch.randn(latent.shape, generator=generator).to(device)
        v[:, : model.lr_channels] = 0.0
        return model.reverse(latent + epsilon * v).cpu().numpy()

    return fn
