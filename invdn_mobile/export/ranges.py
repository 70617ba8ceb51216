"""Range coverage of an INT8 calibration: for every tensor the every-op INT8 graph quantizes
(:class:`~invdn_mobile.export.fakequant.QuantSim`'s points, a superset of a partial recipe's convolution tensors), the
range calibrated on the calibration crops against the range the parity set's stress photos reach, the fraction of
values that fall outside it (and saturate in the integer graph), and what that saturation costs: the stress cases'
PSNR drop vs clean when only that tensor is clamped to its calibrated range (16-bit steps inside it: the clamp alone,
not 8-bit rounding), for the tensors that saturate most.

``invdn export TARGET --ranges`` prints it for a recipe's graph (its exact float rewrites applied) and calibration.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from invdn_mobile.export.fakequant import FIXED, QuantSim
from invdn_mobile.export.integer import prepared
from invdn_mobile.export.photos import calibration_data
from invdn_mobile.gates import INT8_GATE
from invdn_mobile.metrics import psnr
from invdn_mobile.model import Denoiser
from invdn_mobile.parity import DEFAULT_NOISES, in_domain, parity_set


@dataclass
class TensorCoverage:
    tensor: str
    calibrated: tuple[float, float]
    seen: tuple[float, float]  # on the stress cases
    saturated: float  # fraction of the tensor's values on the stress cases outside the calibrated range
    calibration_saturated: float  # the same on the calibration crops (0 for min/max ranges)
    worst_case: str = ""  # the stress case where the most values fall outside
    clamp_drop_db: float | None = None  # mean drop on the stress cases with only this tensor clamped (None: not run)
    clamp_drop_worst_db: float | None = None

    def to_dict(self) -> dict:
        r = lambda v: None if v is None else round(float(v), 6)  # noqa: E731
        return {
            "tensor": self.tensor,
            "calibrated": [r(v) for v in self.calibrated],
            "seen": [r(v) for v in self.seen],
            "saturated": r(self.saturated),
            "calibration_saturated": r(self.calibration_saturated),
            "worst_case": self.worst_case,
            "clamp_drop_db": r(self.clamp_drop_db),
            "clamp_drop_worst_db": r(self.clamp_drop_worst_db),
        }


@dataclass
class Coverage:
    tensors: list[TensorCoverage] = field(default_factory=list)
    groups: dict[str, tuple[float, float]] = field(default_factory=dict)  # coupling -> clamp drop mean / worst (dB)
    cases: int = 0
    calibration_crops: int = 0

    def table(self, top: int = 20) -> str:
        """The ``top`` tensors by clamp cost, then by saturated fraction; and the couplings' clamp costs."""
        rows = sorted(self.tensors, key=lambda t: (-(t.clamp_drop_worst_db or -np.inf), -t.saturated))[:top]
        lines = [
            "| tensor | calibrated range | stress range | saturated on stress | on calibration "
            "| drop with only it clamped, mean / worst (dB) |",
            "|---|---|---|---|---|---|",
        ]
        for t in rows:
            cost = "not run" if t.clamp_drop_db is None else f"{t.clamp_drop_db:+.3f} / {t.clamp_drop_worst_db:+.3f}"
            lines.append(
                f"| {t.tensor} | [{t.calibrated[0]:.3g}, {t.calibrated[1]:.3g}] | [{t.seen[0]:.3g}, {t.seen[1]:.3g}] "
                f"| {t.saturated:.2e} ({t.worst_case}) | {t.calibration_saturated:.2e} | {cost} |"
            )
        saturating = sum(t.saturated > 0 for t in self.tensors)
        if self.groups:
            lines += ["", "| coupling | drop with its saturating tensors clamped, mean / worst (dB) |", "|---|---|"]
            for g, (mean, worst) in sorted(self.groups.items(), key=lambda kv: -kv[1][1]):
                lines.append(f"| {g} | {mean:+.3f} / {worst:+.3f} |")
        lines.append(
            f"\n{saturating} of {len(self.tensors)} tensors saturate on the stress set ({self.cases} cases; "
            f"calibration: {self.calibration_crops} crops)"
        )
        return "\n".join(lines)


def _trace(sim: QuantSim, x: torch.Tensor) -> dict[str, torch.Tensor]:
    sim.mode, sim.trace = "float", {}
    with torch.no_grad():
        sim(x)
    trace, sim.trace = sim.trace, None
    return trace


def _outside(t: torch.Tensor, lo: float, hi: float) -> int:
    return int(((t < lo) | (t > hi)).sum())


def coverage(
    sim: QuantSim,
    calibration: list[torch.Tensor],
    noisy: list[torch.Tensor],
    clean: list[np.ndarray],
    labels: list[str],
    clamp_groups: int = 2,
    headroom: float = 1.0,
) -> Coverage:
    """The coverage of ``sim``'s min/max ranges observed on ``calibration`` (NCHW feeds) over the stress cases
    (``noisy`` NCHW, ``clean`` HWC, ``labels``). What saturation costs: every coupling's saturating tensors clamped
    together (:attr:`Coverage.groups`), then each tensor alone in the ``clamp_groups`` costliest couplings."""
    sim.observe(calibration, headroom=headroom)
    ranges = {k: FIXED.get(k, v) for k, v in sim.ranges.items()}
    calib_out = {k: 0 for k in ranges}
    calib_total = {k: 0 for k in ranges}
    for x in calibration:
        for k, t in _trace(sim, x).items():
            if k in ranges:
                calib_out[k] += _outside(t, *ranges[k])
                calib_total[k] += t.numel()
    out = {k: 0 for k in ranges}
    total = {k: 0 for k in ranges}
    worst = {k: (0.0, "") for k in ranges}
    where: dict[str, set[int]] = {k: set() for k in ranges}  # the cases on which each tensor saturates
    seen = {k: (np.inf, -np.inf) for k in ranges}
    references = []
    for i, (x, label) in enumerate(zip(noisy, labels)):
        trace = _trace(sim, x)
        references.append(trace["output"][0].numpy().transpose(1, 2, 0))
        for k, t in trace.items():
            if k not in ranges:
                continue
            n = _outside(t, *ranges[k])
            if n:
                where[k].add(i)
            out[k] += n
            total[k] += t.numel()
            if n / t.numel() > worst[k][0]:
                worst[k] = (n / t.numel(), label)
            seen[k] = (min(seen[k][0], float(t.min())), max(seen[k][1], float(t.max())))
    result = Coverage(cases=len(noisy), calibration_crops=len(calibration))
    for k in ranges:
        result.tensors.append(
            TensorCoverage(
                k, ranges[k], seen[k], out[k] / max(total[k], 1), calib_out[k] / max(calib_total[k], 1), worst[k][1]
            )
        )
    base = [psnr(c, np.clip(r, 0, 1)) for c, r in zip(clean, references)]

    def clamp_cost(names: set[str]) -> tuple[float, float]:
        """Mean and worst drop on the stress cases with only ``names`` clamped to their calibrated ranges (run on
        the cases where one of them saturates; on the others the clamp changes nothing and counts as 0)."""
        drops = []
        sim.mode, sim.weights, sim.exact, sim.bits = "quant", False, names, lambda name: 16
        with torch.no_grad():
            for i in sorted(set().union(*(where[n] for n in names))):
                y = sim(noisy[i])[0].numpy().transpose(1, 2, 0)
                drops.append(base[i] - psnr(clean[i], np.clip(y, 0, 1)))
        return float(np.sum(drops)) / max(len(noisy), 1), float(max(drops, default=0.0))

    saturating = [t for t in result.tensors if t.saturated > 0 and t.tensor not in FIXED]
    groups: dict[str, list[TensorCoverage]] = {}
    for t in saturating:
        groups.setdefault(group_of(t.tensor), []).append(t)
    for name, members in groups.items():
        result.groups[name] = clamp_cost({t.tensor for t in members})
    for name in sorted(result.groups, key=lambda g: -result.groups[g][0])[:clamp_groups]:
        if result.groups[name][0] <= 0:
            break
        for t in groups[name]:
            t.clamp_drop_db, t.clamp_drop_worst_db = clamp_cost({t.tensor})
    sim.mode, sim.weights, sim.exact, sim.bits = "float", True, None, lambda name: 8
    return result


def group_of(tensor: str) -> str:
    """The coupling a tensor belongs to (``s0.b1`` forward, ``s0.b1.r`` its reverse) or its own name."""
    parts = tensor.split(".")
    if len(parts) >= 3 and parts[1].startswith("b"):
        return ".".join(parts[:3] if parts[2] == "r" else parts[:2])
    return parts[0]


def for_recipe(
    target, model, meta, tile: int, calibration=None, generated: bool = True, noises=None, headroom: float = 1.0
) -> Coverage:
    """The coverage of recipe ``target``'s calibration for ``model`` (its weights' ``meta``) at ``tile``: the graph
    its full-integer options convert (equalized, split), the calibration crops its export uses (``generated``: with
    the generated stress crops), over the stress photos' cases inside the model's domain."""
    z = meta.get("z", {})
    denoiser = Denoiser(model, tile=(tile, tile), seed=int(z.get("seed", 0)), z_scale=float(z.get("scale", 1.0)))
    denoiser.eval()
    feeds = calibration_data(calibration, tile, 16, None, denoiser=denoiser if generated else None)
    sim = QuantSim(prepared(denoiser, target.options(meta.get("variant") or target.variant)))
    pset = parity_set(denoiser, None, tuple(noises or DEFAULT_NOISES), tile, whole=False, sets=("stress",))
    noisy, clean, labels = [], [], []
    for c, ref in zip(pset.cases, pset.reference):
        # one tile each (a photo smaller than the tile is not one), inside the model's domain as the gate reads it
        if c.noisy.shape[:2] == (tile, tile) and in_domain(ref, INT8_GATE.domain):
            noisy.append(torch.from_numpy(c.noisy.transpose(2, 0, 1).copy())[None])
            clean.append(c.clean)
            labels.append(c.label)
    feeds = [torch.from_numpy(f["image"]) for f in feeds]
    return coverage(sim, feeds, noisy, clean, labels, headroom=headroom)
