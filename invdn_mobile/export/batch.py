"""Many exports side by side (``invdn export all``): each job in a worker process with its share of the cores.

The parity references of each weights/tile/z/photo set are made first, one task each and the heaviest first, into
the cache folder (:mod:`invdn_mobile.export.references`), together with the FP16-arithmetic row where an FP16 job
needs it; each group's exports start as soon as their references are in, so no two workers compute the same
references. The jobs of one format and weights run as one chain in one worker (a converter's in-process cache, such
as the TFLite FP32 conversion an FP16 export starts from, is then shared as in one process), the heaviest first.
With one worker, or the cache off, the jobs run one after the other in this process as before. Every artifact is
still executed on the full parity set: only who computes the shared references changes.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait

from invdn_mobile.atomic import output_dir
from invdn_mobile.export.references import cache_dir, fp16_row
from invdn_mobile.export.registry import get_format
from invdn_mobile.export.run import ExportJob, ExportResult, export_artifacts
from invdn_mobile.gates import FP16_COMPUTE_GATE

THREADS_ENV = "INVDN_THREADS"  # intra-op threads of the runtimes and of torch in a worker (load_runner reads it)


def cores() -> int:
    """The CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def default_workers(jobs: int) -> int:
    return max(1, min(jobs, cores()))


def header(job: ExportJob, name: str) -> str:
    variant = job.meta.get("variant") or "custom"
    return f"[{name}] {variant} {job.format} {job.precision} tile {job.tile} -> {job.out_dir}"


def run_jobs(
    jobs: list[tuple[str, ExportJob]], workers: int = 1, log: Callable[[str], None] = print
) -> list[ExportResult]:
    """Run ``(name, job)`` pairs; the results in the order given. ``log`` gets each job's lines together when it is
    done (in a worker) or as they come (one worker)."""
    if workers <= 1 or len(jobs) <= 1 or cache_dir() is None:
        results = []
        for name, job in jobs:
            log(header(job, name))
            results.append(_export(job, lambda msg: log(f"  {msg}")))
        return results
    threads = max(1, cores() // workers)
    log(f"{len(jobs)} export jobs on {workers} workers, {threads} thread(s) each")
    groups: dict[tuple, dict[object, list[int]]] = {}  # references -> chains of jobs
    for i, (_, job) in enumerate(jobs):
        chain = job.format if get_format(job.format).shared_conversion else i
        groups.setdefault(_reference_of(job), {}).setdefault(chain, []).append(i)
    # tasks ready to run, (priority, kind, what): the references first (the heaviest model's first), then the
    # heaviest chain whose references are in
    weight = {key: sum(_cost(jobs[i][1]) for c in chains.values() for i in c) for key, chains in groups.items()}
    ready = [((1, weight[key]), "references", key) for key in groups]
    results: list[ExportResult | None] = [None] * len(jobs)
    context = multiprocessing.get_context("spawn")  # no fork of a process that holds threads (torch, TF)
    started = time.monotonic()
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker, initargs=(threads,)) as pool:
        pending: dict[Future, tuple[str, object]] = {}
        try:
            while ready or pending:
                ready.sort(key=lambda task: task[0], reverse=True)
                while ready and len(pending) < workers:  # one task per worker: the queue stays ours to order
                    _, kind, what = ready.pop(0)
                    if kind == "references":
                        first = jobs[next(iter(groups[what].values()))[0]][1]
                        fp16 = any(_needs_fp16_row(jobs[i][1]) for chain in groups[what].values() for i in chain)
                        pending[pool.submit(_prepare, first, fp16)] = (kind, what)
                    else:
                        pending[pool.submit(_export_chain, [jobs[i][1] for i in what])] = (kind, what)
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    kind, what = pending.pop(future)
                    value = future.result()  # a job's error ends the run (the others are cancelled)
                    if kind == "references":
                        job = jobs[next(iter(groups[what].values()))[0]][1]
                        log(f"references: {job.meta.get('variant') or 'custom'} tile {job.tile} ({value:.1f} s)")
                        ready += [((0, sum(_cost(jobs[i][1]) for i in c)), "chain", c) for c in groups[what].values()]
                        continue
                    for i, (result, lines) in zip(what, value):
                        results[i] = result
                        name, job = jobs[i]
                        done_count = sum(r is not None for r in results)
                        log(f"{header(job, name)}  [{done_count}/{len(jobs)}, {time.monotonic() - started:.0f} s]")
                        for line in lines:
                            log(f"  {line}")
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise
    return results


def _reference_of(job: ExportJob) -> tuple:
    return (str(job.weights_path), job.tile, job.z, str(job.images), job.noises, job.sets)


def _needs_fp16_row(job: ExportJob) -> bool:
    return job.precision == "fp16" and get_format(job.format).fp16_compute_row


def _cost(job: ExportJob) -> float:
    """A rough rank of a job's time: the model's size; an FP16 row or INT8 calibration on top."""
    size = sum(p.numel() for p in job.model.parameters())
    return size * (2 if job.z_input_variant else 1) * (1.5 if job.precision != "fp32" else 1.0)


def _init_worker(threads: int) -> None:
    os.environ[THREADS_ENV] = str(threads)
    os.environ["OMP_NUM_THREADS"] = str(threads)
    import torch

    torch.set_num_threads(threads)


def _prepare(job: ExportJob, fp16: bool) -> float:
    """The references of ``job``'s weights/tile/z/photos into the cache (and the FP16 row); seconds taken."""
    started = time.perf_counter()
    pset = job.references()
    if fp16:
        fp16_row("", job.format, job.precision, pset, FP16_COMPUTE_GATE)
    return time.perf_counter() - started


def _export(job: ExportJob, log) -> ExportResult:
    with output_dir(job.out_dir):  # a failed export leaves no empty folder
        return export_artifacts(job, log=log)


def _export_chain(chain: list[ExportJob]) -> list[tuple[ExportResult, list[str]]]:
    """Jobs of one format and weights, one after the other in one worker (they share a converter's work, e.g. the
    TFLite FP32 conversion of an FP16 export); each job's result and log lines."""
    out = []
    for job in chain:
        lines: list[str] = []
        out.append((_export(job, lines.append), lines))
    return out
