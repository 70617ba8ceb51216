"""A PyTorch model of the full-integer converters: the denoiser computed with a fake-quantization point on every
tensor the int8 graph holds (per-tensor asymmetric int8 activations) and per-output-channel symmetric int8 weights.

The quantization points follow the op order of the converted graphs (litert-torch and the ONNX exporter write the
same sequence): ``conv -> leaky -> conv -> leaky -> concat -> conv`` in every residual block, and in the coupling
``sigmoid -> x2 -> -1 (-> x-1 in reverse) -> exp -> mul``, ``add`` / ``sub`` for the additive terms; on a model
rewritten by :func:`~invdn_mobile.model.split.split_concats` it follows the split graph (``conv3x + conv3r`` instead
of the concatenation, the Haar layers per channel group) as the converters see it. With every
point off (``QuantSim.mode = "float"``) it computes exactly what :class:`~invdn_mobile.model.Denoiser` computes; the
test suite holds it to that.

Used three ways: ``observe`` records the per-tensor (and per-channel) ranges the converters will calibrate,
``quant`` runs the int8 simulation (diagnosis: where the error enters and how the reverse pass amplifies it), and
with gradients on, quantization-aware fine-tuning (straight-through estimator,
:func:`torch.fake_quantize_per_tensor_affine`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from invdn_mobile.model import Denoiser
from invdn_mobile.model.coupling import Coupling, ResidualBlock
from invdn_mobile.model.split import SplitHaar, SplitResidualBlock

SAMPLES_PER_POINT = 1 << 18  # values kept per point (random subsample) for percentile / MSE ranges
# Fixed ranges that need no calibration: the image in and out are [0, 1] (int8 code = 8-bit pixel - 128), as the
# full-integer exports pin them.
FIXED = {"input": (0.0, 1.0), "output": (0.0, 1.0)}


@dataclass
class Stats:
    lo: float = float("inf")
    hi: float = float("-inf")
    ch_lo: np.ndarray | None = None
    ch_hi: np.ndarray | None = None
    samples: list[np.ndarray] = field(default_factory=list)

    def add(self, t: torch.Tensor, rng: np.random.Generator) -> None:
        v = t.detach().float().cpu()
        self.lo, self.hi = min(self.lo, float(v.min())), max(self.hi, float(v.max()))
        c = v.transpose(0, 1).reshape(v.shape[1], -1)
        lo, hi = c.min(1).values.numpy(), c.max(1).values.numpy()
        self.ch_lo = lo if self.ch_lo is None else np.minimum(self.ch_lo, lo)
        self.ch_hi = hi if self.ch_hi is None else np.maximum(self.ch_hi, hi)
        flat = v.reshape(-1).numpy()
        take = min(flat.size, SAMPLES_PER_POINT // 8)
        self.samples.append(flat[rng.integers(0, flat.size, take)] if take < flat.size else flat.copy())

    def values(self) -> np.ndarray:
        return np.concatenate(self.samples)


def qrange(bits: int) -> tuple[int, int]:
    """The signed integer codes of ``bits`` bits: (-128, 127) for 8."""
    return -(1 << (bits - 1)), (1 << (bits - 1)) - 1


def qparams(lo: float, hi: float, bits: int = 8) -> tuple[float, int]:
    """Scale and zero point of asymmetric ``bits``-bit integers for ``[lo, hi]`` (zero always representable, as the
    converters do)."""
    qmin, qmax = qrange(bits)
    lo, hi = min(lo, 0.0), max(hi, 0.0)
    scale = max(hi - lo, 1e-8) / (qmax - qmin)
    zero = int(np.clip(round(qmin - lo / scale), qmin, qmax))
    return scale, zero


def fake_quant(x: torch.Tensor, lo: float, hi: float, bits: int = 8) -> torch.Tensor:
    scale, zero = qparams(lo, hi, bits)
    return torch.fake_quantize_per_tensor_affine(x, scale, zero, *qrange(bits))


def fake_quant_channels(x: torch.Tensor, lo: np.ndarray, hi: np.ndarray, bits: int = 8) -> torch.Tensor:
    """Asymmetric ``bits``-bit integers with a range per channel (dim 1): not what the converters write for
    activations (per-tensor), but the bound of any split of a tensor into channel groups."""
    params = [qparams(float(a), float(b), bits) for a, b in zip(lo, hi)]
    scale = torch.tensor([p[0] for p in params], dtype=torch.float32, device=x.device)
    zero = torch.tensor([p[1] for p in params], dtype=torch.int32, device=x.device)
    return torch.fake_quantize_per_channel_affine(x, scale, zero, 1, *qrange(bits))


def fake_quant_weight(w: torch.Tensor, axis: int = 0) -> torch.Tensor:
    """Per-channel symmetric int8 (scale = max|w| / 127 per output channel), as both converters quantize weights."""
    dims = [d for d in range(w.dim()) if d != axis]
    scale = (w.detach().abs().amax(dim=dims) / 127.0).clamp_min(1e-12)
    zero = torch.zeros_like(scale, dtype=torch.int32)
    return torch.fake_quantize_per_channel_affine(w, scale.float(), zero, axis, -127, 127)


def range_of(values: np.ndarray, method: str, lo: float, hi: float) -> tuple[float, float]:
    """A calibrated range from a point's sampled values: ``minmax`` (the observed extremes), ``pXX.XX`` (percentiles
    on both sides, e.g. ``p99.99``) or ``mse`` (the clipping range of least mean squared quantization error among
    shrinkings of the min/max range)."""
    if method == "minmax":
        return lo, hi
    if method.startswith("p"):
        q = float(method[1:])
        return float(np.percentile(values, 100 - q)), float(np.percentile(values, q))
    if method == "mse":
        best, best_err = (lo, hi), float("inf")
        v = torch.from_numpy(values)
        for f in (1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3):
            a, b = lo * f, hi * f
            err = float(((fake_quant(v, a, b) - v) ** 2).mean())
            if err < best_err:
                best, best_err = (a, b), err
        return best
    raise ValueError(f"unknown calibration method {method!r}")


class QuantSim:
    """The denoiser with a quantization point on every tensor of the int8 graph.

    ``mode``: ``float`` (no quantization), ``observe`` (record ranges), ``quant`` (fake-quantize with ``ranges``).
    ``only`` (in ``quant`` mode): quantize only points whose name starts with one of these prefixes (per-layer
    sensitivity; ``exact``: only the points of these names); ``weights``: fake-quantize conv weights too; ``bits``:
    activation bits per point (default 8; a callable of the point's name, for mixed-precision studies);
    ``per_channel``: a range per channel instead of per tensor (a bound, see :func:`fake_quant_channels`)."""

    def __init__(self, denoiser: Denoiser) -> None:
        self.d = denoiser
        self.model = denoiser.model
        self.mode = "float"
        self.stats: dict[str, Stats] = {}
        self.ranges: dict[str, tuple[float, float]] = {}
        self.only: tuple[str, ...] | None = None
        self.exact: set[str] | None = None  # quantize only the points of exactly these names
        self.weights = True
        self.bits = lambda name: 8
        self.per_channel = False
        self.trace: dict[str, torch.Tensor] | None = None  # when a dict: every point's value is stored in it
        self._rng = np.random.default_rng(0)

    # --- quantization points ---
    def _active(self, name: str) -> bool:
        if self.exact is not None:
            return name in self.exact
        return self.only is None or name.startswith(self.only)

    def a(self, name: str, t: torch.Tensor) -> torch.Tensor:
        if self.trace is not None:
            self.trace[name] = t.detach()
        if self.mode == "observe":
            self.stats.setdefault(name, Stats()).add(t, self._rng)
        elif self.mode == "quant" and self._active(name):
            if self.per_channel and name not in FIXED:
                s = self.stats[name]
                return fake_quant_channels(t, s.ch_lo, s.ch_hi, self.bits(name))
            lo, hi = FIXED.get(name) or self.ranges[name]
            return fake_quant(t, lo, hi, self.bits(name))
        return t

    def conv(self, name: str, x: torch.Tensor, weight, bias=None, transpose=False, **kw) -> torch.Tensor:
        if self.mode == "quant" and self.weights and self._active(name):
            weight = fake_quant_weight(weight, axis=1 if transpose else 0)
        y = (F.conv_transpose2d if transpose else F.conv2d)(x, weight, bias, **kw)
        return self.a(name, y)

    def calibrate(self, method: str = "minmax", overrides: dict[str, str] | None = None, headroom: float = 1.0) -> None:
        """Turn the observed statistics into ``ranges`` (``overrides``: point-name prefix -> method); ``headroom``
        widens each range about its middle by that factor (1: as observed), for values calibration did not see."""
        for name, s in self.stats.items():
            m = next((v for k, v in (overrides or {}).items() if name.startswith(k)), method)
            lo, hi = range_of(s.values(), m, s.lo, s.hi) if m != "minmax" else (s.lo, s.hi)
            mid, half = (lo + hi) / 2, (hi - lo) / 2 * headroom
            self.ranges[name] = (mid - half, mid + half)

    def observe(self, feeds: list[torch.Tensor], method: str = "minmax", headroom: float = 1.0) -> None:
        """Record every point's range afresh in float on ``feeds`` (what the converter calibrates), turn it into
        ``ranges`` (with ``headroom``) and leave ``mode`` at ``quant``."""
        self.stats.clear()
        self.mode = "observe"
        with torch.no_grad():
            for f in feeds:
                self(f)
        self.calibrate(method, headroom=headroom)
        self.mode = "quant"

    def score(self, teacher, noisy: torch.Tensor, clean: torch.Tensor) -> dict[str, float]:
        """The simulation against ``teacher`` (the float denoiser) on ``noisy`` crops with their ``clean`` ones: the
        drop of PSNR vs clean of the quantized (``int8_drop_db``) and the float (``float_drop_db``) computation, dB,
        mean over the crops whose quantized output stays within 0.2 of the teacher everywhere (elsewhere the float
        model itself leaves [0, 1] and the calibrated ranges clip it: docs/int8.md, "Outliers"); PSNR of the
        quantized output vs the teacher's (``vs_float_db``); ``crops`` kept of all. Leaves ``mode`` at ``quant``."""

        def psnr(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
            return -10 * torch.log10(((a.clamp(0, 1) - b) ** 2).mean(dim=(1, 2, 3)).clamp_min(1e-12))

        with torch.no_grad():
            ref = teacher(noisy)
            self.mode = "float"
            fl = self(noisy)
            self.mode = "quant"
            q = self(noisy)
        good = (q.clamp(0, 1) - ref.clamp(0, 1)).abs().amax(dim=(1, 2, 3)) < 0.2
        base = psnr(ref, clean)
        return {
            "int8_drop_db": float((base - psnr(q, clean))[good].mean()),
            "float_drop_db": float((base - psnr(fl, clean))[good].mean()),
            "vs_float_db": float(psnr(q, ref.clamp(0, 1)).mean()),
            "crops": f"{int(good.sum())} of {len(good)}",
        }

    # --- the network ---
    def resblock(self, name: str, m: ResidualBlock, x: torch.Tensor, negate: bool = False) -> torch.Tensor:
        r = self.a(
            f"{name}.act1", F.leaky_relu(self.conv(f"{name}.conv1", x, m.conv1.weight, m.conv1.bias, padding=1), 0.2)
        )
        r = self.a(
            f"{name}.act2", F.leaky_relu(self.conv(f"{name}.conv2", r, m.conv2.weight, m.conv2.bias, padding=1), 0.2)
        )
        if isinstance(m, SplitResidualBlock):  # conv3x(x) + conv3r(r): two conv outputs and their sum
            sign = -1.0 if negate else 1.0
            a = self.conv(f"{name}.conv3x", x, sign * m.conv3x.weight, sign * m.conv3x.bias, padding=1)
            b = self.conv(f"{name}.conv3r", r, sign * m.conv3r.weight, None, padding=1)
            return self.a(f"{name}.conv3", a + b)
        c = self.a(f"{name}.cat", torch.cat((x, r), dim=1))
        w, b = (-m.conv3.weight, -m.conv3.bias) if negate else (m.conv3.weight, m.conv3.bias)  # -G folded (TFLite)
        return self.conv(f"{name}.conv3", c, w, b, padding=1)

    def haar(self, name: str, haar, parts: list[torch.Tensor], inverse: bool) -> list[torch.Tensor]:
        """A Haar layer on its channel groups ``parts``: the output groups (one tensor for an unsplit layer)."""
        if not isinstance(haar, SplitHaar):
            x = parts[0] if len(parts) == 1 else self.a(f"{name}.cat", torch.cat(parts, dim=1))
            if inverse:
                return [self.conv(name, x, haar.inverse_weight, transpose=True, stride=2)]
            return [self.conv(name, x, haar.weight, stride=2)]
        table = haar.inv if inverse else haar.fwd
        if len(parts) == 1 and len(haar.outs if inverse else haar.ins) > 1:
            parts = [parts[0][:, g] for g in (haar.outs if inverse else haar.ins)]
        outs = []
        for r, row in enumerate(table):
            terms = [
                self.conv(f"{name}{r}{s}", parts[s], getattr(haar, w), transpose=inverse, stride=2) for s, w in row
            ]
            total = terms[0]
            for t in terms[1:]:
                total = total + t
            if len(terms) > 1:  # the sum is a tensor of its own (an ADD); the image out keeps its pinned name
                total = self.a(name if len(table) == 1 else f"{name}{r}", total)
            outs.append(total)
        return outs

    def multiplier(self, name: str, block: Coupling, y1: torch.Tensor, sign: float) -> torch.Tensor:
        """``exp(sign * s)`` with its int8 points: sigmoid, x2, -1, (x-1), exp."""
        h = self.resblock(f"{name}.H", block.H, y1)
        s = self.a(f"{name}.sig", torch.sigmoid(h))
        s = self.a(f"{name}.sig2", 2.0 * s)
        s = self.a(f"{name}.s", block.clamp * (s - 1.0))
        if sign < 0:
            s = self.a(f"{name}.neg_s", -s)
        return self.a(f"{name}.exp", torch.exp(s))

    def coupling(self, name: str, block: Coupling, x1: torch.Tensor, x2: torch.Tensor, first_only: bool = False):
        y1 = self.a(f"{name}.y1", x1 + self.resblock(f"{name}.F", block.F, x2))
        if first_only:
            return y1, None
        m = self.a(f"{name}.mul", x2 * self.multiplier(name, block, y1, 1.0))
        y2 = self.a(f"{name}.y2", m + self.resblock(f"{name}.G", block.G, y1))
        return y1, y2

    def coupling_inverse(self, name: str, block: Coupling, y1: torch.Tensor, y2: torch.Tensor):
        d = self.a(f"{name}.r.sub", self.resblock(f"{name}.r.G", block.G, y1, negate=True) + y2)
        x2 = self.a(f"{name}.r.x2", d * self.multiplier(f"{name}.r", block, y1, -1.0))
        x1 = self.a(f"{name}.r.x1", y1 - self.resblock(f"{name}.r.F", block.F, x2))
        return x1, x2

    def __call__(self, x: torch.Tensor, z: torch.Tensor | None = None) -> torch.Tensor:
        model, split = self.model, self.model.lr_channels
        if z is None:
            z = self.d.z_for(x.shape[-2], x.shape[-1]).to(x)
        if z.shape[0] != x.shape[0]:
            z = z.expand(x.shape[0], -1, -1, -1)
        parts = [self.a("input", x)]
        n = len(model.scales)
        for i, scale in enumerate(model.scales):
            k = scale.blocks[0].split
            out = self.haar(f"s{i}.haar", scale.haar, parts, inverse=False)
            x1, x2 = (out[0][:, :k], out[0][:, k:]) if len(out) == 1 else out
            for j, block in enumerate(scale.blocks):
                last = i == n - 1 and j == len(scale.blocks) - 1
                x1, x2 = self.coupling(f"s{i}.b{j}", block, x1, x2, first_only=last)
            parts = [x1, x2]
        y1, y2 = x1[:, :split], self.a("z", z)
        for i in reversed(range(n)):
            scale = model.scales[i]
            for j in reversed(range(len(scale.blocks))):
                y1, y2 = self.coupling_inverse(f"s{i}.b{j}", scale.blocks[j], y1, y2)
            out = self.haar(f"s{i}.r.haar" if i else "output", scale.haar, [y1, y2], inverse=True)
            if i > 0:
                s = model.scales[i - 1].blocks[0].split
                y1, y2 = (out[0][:, :s], out[0][:, s:]) if len(out) == 1 else out
        return out[0]
