"""Parity: execute an artifact on the held-out parity set and hold it to its gate, against the PyTorch FP32 denoiser
and against the clean photos.

The parity set (:func:`parity_set`) is made of named photo sets (:data:`PHOTO_SETS`): ``heldout``, every photo of a
folder (default ``samples/heldout``, never seen by training, strength calibration or the INT8 search), and ``stress``,
the generated and natural stress photos of :mod:`invdn_mobile.stress` (saturated colours, extremes, edges, stripes,
text; never used by calibration or the search); each at every noise level of ``noises`` (default
:data:`DEFAULT_NOISES`), each noisy photo stored as 8-bit values as a photo file would be. Each (photo, noise) case
is the centre crop of one artifact tile, run as that single tile; one whole photo also goes through the tiler
(overlaps and feathering).

One status vocabulary (:data:`STATUSES`): ``pass`` only for an artifact that was executed and met every bound of its
gate, ``fail`` with the reasons, ``unverified`` with the reason it could not be executed.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from invdn_mobile.denoise import denoise_array, ensemble_fn
from invdn_mobile.errors import InvdnError, first_line
from invdn_mobile.gates import Gate
from invdn_mobile.imageio import list_images, read_image
from invdn_mobile.metrics import psnr, ssim
from invdn_mobile.noise import make_noisy
from invdn_mobile.runtimes.torch_fp16 import Fp16OpsRunner
from invdn_mobile.tiling import default_overlap

DEFAULT_NOISES = ("camera:iso3200", "awgn:15")  # a camera at high ISO, and the usual Gaussian benchmark level
PHOTO_SETS = ("heldout", "stress")  # the named photo sets; export gates on both
STATUSES = ("pass", "fail", "unverified")


@dataclass
class Case:
    """One noisy crop of the parity set."""

    photo: str
    noise: str
    clean: np.ndarray  # HWC float32 in [0, 1]
    noisy: np.ndarray  # same, 8-bit values

    @property
    def label(self) -> str:
        return f"{self.photo} {self.noise}"


@dataclass
class ParitySet:
    photos: str  # the folder and/or the stress set
    noises: tuple[str, ...]
    tile: int
    cases: list[Case]
    tiled: np.ndarray | None  # one whole noisy photo (the first, at the first noise level) for the tiler; None: none
    reference: list[np.ndarray] = field(default_factory=list)  # PyTorch FP32 output per case
    tiled_reference: np.ndarray | None = None
    denoiser: object = None  # the PyTorch denoiser (artifact tile and z) the reference came from
    tiled_reference_clipped: np.ndarray | None = None  # tiles clipped before blending, as an artifact that clips
    fp16_compute: ParityRow | None = None  # its FP16-arithmetic row, measured once (see fp16_compute_row)
    key: str = ""  # the name it is cached under (invdn_mobile.export.references); empty: not cached


def _eight_bit(x: np.ndarray) -> np.ndarray:
    return (np.round(np.clip(x, 0.0, 1.0) * 255.0) / 255.0).astype(np.float32)


def _centre(image: np.ndarray, tile: int) -> np.ndarray:
    h, w = image.shape[:2]
    y, x = max(0, (h - tile) // 2), max(0, (w - tile) // 2)
    return np.ascontiguousarray(image[y : y + tile, x : x + tile])


def set_photos(folder: Path | None, sets: tuple[str, ...]) -> tuple[str, list[tuple[str, np.ndarray]]]:
    """The clean photos of the named ``sets`` (``heldout``: every photo of ``folder``; ``stress``: the stress
    photos), in that order, and a label for them."""
    unknown = [s for s in sets if s not in PHOTO_SETS]
    if unknown or not sets:
        raise InvdnError(f"unknown photo set {', '.join(unknown) or '(none)'}: choose from {', '.join(PHOTO_SETS)}")
    photos, labels = [], []
    for name in dict.fromkeys(sets):
        if name == "heldout":
            files = list_images(Path(folder))
            if not files:
                raise InvdnError(f"{folder}: no photos for parity")
            photos += [(f.name, read_image(f).rgb) for f in files]
            labels.append(str(folder))
        else:
            from invdn_mobile.stress import stress_photos

            stress = stress_photos()
            photos += stress
            labels.append(f"stress ({len(stress)} photos)")
    return " + ".join(labels), photos


def load_cases(
    photos: list[tuple[str, np.ndarray]], noises: tuple[str, ...], tile: int, seed: int = 0
) -> tuple[list[Case], np.ndarray]:
    """Every photo at every noise level (seeded per photo), cropped to one ``tile``; and the first photo whole at the
    first noise level."""
    if not noises:
        raise InvdnError("parity needs at least one noise level")
    cases, tiled = [], None
    for i, (name, clean) in enumerate(photos):
        for noise in noises:
            noisy = _eight_bit(make_noisy(clean, noise, seed + i))
            if tiled is None:
                tiled = noisy
            cases.append(Case(name, noise, _centre(clean, tile), _centre(noisy, tile)))
    return cases, tiled


def parity_cases(
    folder: Path | None, noises: tuple[str, ...], tile: int, whole: bool = True, sets=("heldout",)
) -> ParitySet:
    """The parity cases of the photo ``sets`` (and, with ``whole``, the whole photo for the tiler), without the
    PyTorch outputs yet (:func:`add_references`)."""
    label, photos = set_photos(folder, tuple(sets))
    cases, tiled = load_cases(photos, tuple(noises), tile)
    return ParitySet(label, tuple(noises), tile, cases, tiled if whole else None)


def add_references(pset: ParitySet, denoiser) -> ParitySet:
    """The PyTorch FP32 outputs of ``denoiser`` (at the artifact's tile and z) on every case and the whole photo."""
    fn = ensemble_fn(denoiser)
    overlap = default_overlap(pset.tile)
    pset.denoiser = denoiser
    pset.reference = [denoise_array(c.noisy, fn, pset.tile, overlap) for c in pset.cases]
    pset.tiled_reference = None if pset.tiled is None else denoise_array(pset.tiled, fn, pset.tile, overlap)
    return pset


def parity_set(
    denoiser, folder: Path | None, noises: tuple[str, ...], tile: int, whole: bool = True, sets=("heldout",)
) -> ParitySet:
    """The parity cases of the photo ``sets`` and the PyTorch FP32 outputs on them (``denoiser`` at the artifact's
    tile and z). ``whole=False``: no whole photo through the tiler, only the tiles (for slow evaluators, e.g. an
    emulated ARM core)."""
    return add_references(parity_cases(folder, noises, tile, whole, sets), denoiser)


@dataclass
class ParityRow:
    artifact: str
    format: str
    precision: str
    evaluator: str  # what executed it (e.g. onnxruntime-cpu, coreml-mil-reference, torch-fp16-ops)
    status: str  # pass / fail / unverified
    failures: tuple[str, ...] = ()  # fail: every bound missed; unverified: why it was not executed
    arithmetic: str | None = None  # the arithmetic an evaluator of ours emulated (fp16/fp32); None: the runtime's own
    photos: str = ""
    noises: tuple[str, ...] = ()
    cases: int = 0
    finite: bool = True
    max_abs_err: float = math.nan  # vs PyTorch FP32 (unclipped), every case and the tiled photo
    worst_err_case: str = ""
    tiled_max_abs_err: float = math.nan  # the whole photo through the tiler
    psnr_vs_torch: float = math.nan  # mean over the cases
    psnr_vs_torch_worst: float = math.nan
    worst_psnr_case: str = ""
    psnr_vs_clean: float = math.nan
    torch_psnr_vs_clean: float = math.nan
    ssim_vs_clean: float = math.nan
    drop_db: float = math.nan  # PSNR vs clean lost against PyTorch FP32, mean over the cases
    drop_worst_db: float = math.nan
    worst_drop_case: str = ""
    per_case: list[dict] = field(default_factory=list)
    excluded: tuple[str, ...] = ()  # cases outside the model's domain, not gated (Gate.domain)

    @property
    def measured(self) -> bool:
        """Whether the artifact produced outputs to score (a committed row keeps no per-case numbers, but its
        scores, or its non-finite output, say so)."""
        return bool(self.per_case) or not self.finite or not math.isnan(self.max_abs_err)

    def to_dict(self) -> dict:
        d = asdict(self)
        for k, v in d.items():
            if isinstance(v, float):
                d[k] = None if math.isnan(v) else round(v, 8 if "err" in k else 4)
        d["failures"], d["noises"], d["excluded"] = list(self.failures), list(self.noises), list(self.excluded)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> ParityRow:
        values = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        for k, v in values.items():
            if v is None and cls.__dataclass_fields__[k].type == "float":
                values[k] = math.nan
        values["failures"], values["noises"] = tuple(d.get("failures", ())), tuple(d.get("noises", ()))
        values["excluded"] = tuple(d.get("excluded", ()))
        return cls(**values)


class WrongOutput(Exception):
    pass


def in_domain(reference: np.ndarray, margin: float) -> bool:
    """Whether the PyTorch FP32 output stays within ``margin`` of [0, 1] everywhere (the model's domain)."""
    return bool(np.isfinite(reference).all() and reference.min() >= -margin and reference.max() <= 1.0 + margin)


def measure(name: str, fmt: str, precision: str, runner, pset: ParitySet, gate: Gate) -> ParityRow:
    """Run ``runner`` on every case and the tiled photo, compare, and judge against ``gate``."""
    tile, overlap = pset.tile, default_overlap(pset.tile)
    row = ParityRow(
        name,
        fmt,
        precision,
        getattr(runner, "evaluator", type(runner).__name__),
        "fail",
        arithmetic=getattr(runner, "arithmetic", None),
        photos=pset.photos,
        noises=pset.noises,
        cases=len(pset.cases),
    )

    def fn(batch: np.ndarray) -> np.ndarray:
        out = np.asarray(runner.run(batch))
        if out.shape != batch.shape:
            raise WrongOutput(f"output shape {list(out.shape)}, expected {list(batch.shape)}")
        return out

    try:
        outs = [denoise_array(c.noisy, fn, tile, overlap) for c in pset.cases]
        tiled = None if pset.tiled is None else denoise_array(pset.tiled, fn, tile, overlap)
    except WrongOutput as exc:
        row.failures = (str(exc),)
        return row
    except InvdnError as exc:  # the evaluator cannot run it (a limit of ours, named): not executed
        row.status, row.failures = "unverified", (f"not executed: {exc}",)
        return row
    except Exception as exc:  # the artifact crashed its runtime: that is its verdict, and the next one goes on
        row.failures = (f"the evaluator failed on it: {type(exc).__name__}: {first_line(exc)}",)
        return row
    clips = bool(getattr(runner, "clips_output", False))  # the artifact clips: compare with the clipped reference
    refs = [np.clip(r, 0, 1) if clips else r for r in pset.reference]  # (a single tile: clip and blend commute)
    tiled_ref = pset.tiled_reference
    if clips and tiled is not None:
        if pset.tiled_reference_clipped is None:
            fn_ref = ensemble_fn(pset.denoiser)
            pset.tiled_reference_clipped = denoise_array(pset.tiled, lambda b: np.clip(fn_ref(b), 0, 1), tile, overlap)
        tiled_ref = pset.tiled_reference_clipped
    row.finite = bool(all(np.isfinite(o).all() for o in outs) and (tiled is None or np.isfinite(tiled).all()))
    for case, out, ref, raw in zip(pset.cases, outs, refs, pset.reference):
        torch_clean = psnr(case.clean, raw)
        if np.isfinite(out).all():
            vs_clean = psnr(case.clean, out)
            scores = {
                "max_abs_err": float(np.abs(out - ref).max()),
                "psnr_vs_torch": psnr(np.clip(raw, 0, 1), out),
                "psnr_vs_clean": vs_clean,
                "ssim_vs_clean": ssim(case.clean, out),
                "drop_db": torch_clean - vs_clean,
            }
        else:  # no score means anything here (a PSNR of NaN pixels would read as a perfect 100 dB)
            scores = dict.fromkeys(
                ("max_abs_err", "psnr_vs_torch", "psnr_vs_clean", "ssim_vs_clean", "drop_db"), math.nan
            )
        row.per_case.append({"case": case.label, "torch_psnr_vs_clean": torch_clean} | scores)
        if gate.domain is not None:
            row.per_case[-1]["in_domain"] = in_domain(raw, gate.domain)
    gated = [c for c in row.per_case if c.get("in_domain", True)]
    row.excluded = tuple(c["case"] for c in row.per_case if not c.get("in_domain", True))
    if not gated:
        row.failures = (f"no case within the model's domain (PyTorch FP32 output within ±{gate.domain} of [0, 1])",)
        return row
    col = {k: np.array([c[k] for c in gated], dtype=np.float64) for k in gated[0] if k not in ("case", "in_domain")}
    errors, labels = list(col["max_abs_err"]), [c["case"] for c in gated]
    if tiled is not None and (gate.domain is None or in_domain(pset.tiled_reference, gate.domain)):
        row.tiled_max_abs_err = float(np.abs(tiled - tiled_ref).max())
        errors.append(row.tiled_max_abs_err)
        labels.append(f"{pset.cases[0].label}, whole photo through the tiler")
    row.max_abs_err = float(np.max(errors))
    row.worst_err_case = labels[int(np.nanargmax(errors))] if row.finite else ""
    row.psnr_vs_torch, row.psnr_vs_torch_worst = float(col["psnr_vs_torch"].mean()), float(col["psnr_vs_torch"].min())
    row.worst_psnr_case = gated[int(np.nanargmin(col["psnr_vs_torch"]))]["case"] if row.finite else ""
    row.psnr_vs_clean = float(col["psnr_vs_clean"].mean())
    row.torch_psnr_vs_clean = float(col["torch_psnr_vs_clean"].mean())
    row.ssim_vs_clean = float(col["ssim_vs_clean"].mean())
    row.drop_db, row.drop_worst_db = float(col["drop_db"].mean()), float(col["drop_db"].max())
    row.worst_drop_case = gated[int(np.nanargmax(col["drop_db"]))]["case"] if row.finite else ""
    for c in row.per_case:
        for k, v in c.items():
            if isinstance(v, float):
                c[k] = None if math.isnan(v) else round(v, 8 if "err" in k else 4)
    problems = list(runner.problems()) if hasattr(runner, "problems") else []
    row.failures = tuple(gate_failures(row, gate, problems))
    row.status = "fail" if row.failures else "pass"
    return row


def fp16_compute_row(name: str, fmt: str, precision: str, pset: ParitySet, gate: Gate) -> ParityRow:
    """The FP16-compute row of an FP16 artifact: the parity set's denoiser evaluated with FP16 arithmetic
    (:mod:`invdn_mobile.runtimes.torch_fp16`). It depends on the weights, tile and z, not on the artifact's file, so
    it is measured once per parity set and named after each artifact it stands for."""
    if pset.fp16_compute is None:
        pset.fp16_compute = measure("", fmt, precision, Fp16OpsRunner(pset.denoiser), pset, gate)
    return replace(pset.fp16_compute, artifact=name, format=fmt, precision=precision)


def unverified_row(name: str, fmt: str, precision: str, reason: str) -> ParityRow:
    """The row of an artifact that was not executed."""
    return ParityRow(name, fmt, precision, "", "unverified", (reason,))


def gate_failures(row: ParityRow, gate: Gate, problems: list[str] = ()) -> list[str]:
    """Why ``row`` fails ``gate`` (empty: it passes). NaN or Inf anywhere fails, and so does any value the evaluator
    saw turn Inf/NaN inside the artifact (``problems``, e.g. an FP16 overflow), even if the output hides it."""
    failures = [f"inside the artifact: {p}" for p in problems]
    if not row.finite:  # no other number means anything then
        return [*failures, "NaN or Inf in the output"]
    if gate.max_abs_err is not None and not row.max_abs_err <= gate.max_abs_err:
        failures.append(f"max abs error {row.max_abs_err:.2e} > {gate.max_abs_err:g} (on {row.worst_err_case})")
    if gate.min_psnr_vs_torch is not None and not row.psnr_vs_torch_worst >= gate.min_psnr_vs_torch:
        failures.append(
            f"PSNR vs PyTorch {row.psnr_vs_torch_worst:.2f} dB on {row.worst_psnr_case or 'a photo'} "
            f"< {gate.min_psnr_vs_torch} dB"
        )
    if gate.max_drop_db is not None and not row.drop_db <= gate.max_drop_db:
        gated = row.cases - len(row.excluded)
        failures.append(f"drop vs clean {row.drop_db:+.3f} dB (mean of {gated} cases) > {gate.max_drop_db} dB")
    if gate.max_drop_worst_db is not None and not row.drop_worst_db <= gate.max_drop_worst_db:
        failures.append(
            f"drop vs clean {row.drop_worst_db:+.3f} dB on {row.worst_drop_case or 'a photo'} > "
            f"{gate.max_drop_worst_db} dB"
        )
    return failures


def combined_status(rows: list[ParityRow]) -> str:
    """An artifact's status from its rows: any fail fails it; else any unverified leaves it unverified."""
    statuses = {r.status for r in rows}
    return "fail" if "fail" in statuses else "unverified" if "unverified" in statuses or not rows else "pass"


def count_line(statuses: list[str]) -> str:
    counts = Counter(statuses)
    return "status: " + ", ".join(f"{counts.get(s, 0)} {s}" for s in STATUSES)


def _num(value: float, spec: str) -> str:
    return "—" if value is None or (isinstance(value, float) and math.isnan(value)) else format(value, spec)


def markdown(rows: list[ParityRow]) -> str:
    """The parity table: one line per evaluation of an artifact (its runtime, and the FP16-compute row)."""
    lines = [
        "| artifact | precision | evaluator | max abs err | PSNR vs PyTorch, mean / worst (dB) "
        "| drop vs clean, mean / worst (dB) | status |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        evaluator = r.evaluator + (f" ({r.arithmetic} arithmetic)" if r.arithmetic else "")
        status = r.status if r.status == "pass" else f"{r.status}: " + "; ".join(r.failures)
        if r.excluded:
            status += f" ({len(r.excluded)} of {r.cases} cases outside the model's domain, not gated)"
        if r.status == "unverified" or not r.measured:
            lines.append(f"| {r.artifact} | {r.precision} | {evaluator or '—'} | | | | {status} |")
            continue
        worst = f" ({r.worst_drop_case})" if r.worst_drop_case else ""
        lines.append(
            f"| {r.artifact} | {r.precision} | {evaluator} | {_num(r.max_abs_err, '.1e')} "
            f"| {_num(r.psnr_vs_torch, '.1f')} / {_num(r.psnr_vs_torch_worst, '.1f')} "
            f"| {_num(r.drop_db, '+.3f')} / {_num(r.drop_worst_db, '+.3f')}{worst} | {status} |"
        )
    return "\n".join(lines)
