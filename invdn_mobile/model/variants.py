"""Named model configurations: the one table every command's ``--variant`` reads."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from invdn_mobile.errors import InvdnError


@dataclass(frozen=True)
class VariantConfig:
    """Shape of an InvDN network."""

    scales: int = 2
    blocks: int = 8
    width: int = 64
    in_channels: int = 3
    clamp: float = 1.0

    @property
    def multiple(self) -> int:
        """Input height and width must be multiples of this (one factor 2 per Haar downscale)."""
        return 2**self.scales

    def to_dict(self) -> dict:
        return asdict(self)


VARIANTS: dict[str, VariantConfig] = {
    # The paper's configuration (section 4.2): 2 down-scale blocks x 8 invertible blocks, width 64, 2.64 M params.
    "paper": VariantConfig(scales=2, blocks=8, width=64),
    # A phone-sized point: 2 down-scale blocks x 4 invertible blocks, width 32.
    "compact": VariantConfig(scales=2, blocks=4, width=32),
}

DEFAULT_VARIANT = "paper"


def get_variant(name: str) -> VariantConfig:
    try:
        return VARIANTS[name]
    except KeyError:
        raise InvdnError(f"unknown variant {name!r}; choose one of: {', '.join(VARIANTS)}") from None


def variant_name(config: VariantConfig) -> str | None:
    """The registered name of a configuration, or None for a custom one."""
    for name, known in VARIANTS.items():
        if known == config:
            return name
    return None
