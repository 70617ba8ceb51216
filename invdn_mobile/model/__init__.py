"""InvDN model: Haar downscale, coupling blocks, the invertible network, the export wrapper, weights I/O."""

from invdn_mobile.model.denoiser import Denoiser, sample_z
from invdn_mobile.model.invdn import InvDN
from invdn_mobile.model.variants import VARIANTS, VariantConfig, get_variant

__all__ = ["VARIANTS", "Denoiser", "InvDN", "VariantConfig", "get_variant", "sample_z"]
