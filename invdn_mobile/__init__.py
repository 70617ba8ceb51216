"""invdn-mobile: InvDN (CVPR 2021) from PyTorch to phones, with parity proven at every step."""

__version__ = "0.1.0"
