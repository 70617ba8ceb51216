"""The training loop (paper 3.4 and 4.2): forward L2 on the LR channels vs the bicubic-downscaled clean image
(weight ``lambda_forw``), backward L1 of the reverse pass with a fresh N(0, I) z_HF vs the clean image; Adam
(0.9, 0.999) with step halving or warm-up + cosine decay, gradient clipping; atomic, bit-exactly resumable
checkpoints; on CUDA the whole step is one CUDA graph. Under torchrun, each process is one rank of a
DistributedDataParallel run (see :mod:`invdn_mobile.train.world`)."""

from __future__ import annotations

import hashlib
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel

from invdn_mobile.atomic import atomic_path, make_dir
from invdn_mobile.data.dataset import CropDataset, center_crops, crop_loader, load_uint8, split_files
from invdn_mobile.errors import InvdnError
from invdn_mobile.metrics import psnr_batch
from invdn_mobile.model import Denoiser, InvDN, get_variant
from invdn_mobile.model.checkpoint import load_weights, read_meta, save_weights
from invdn_mobile.noise import NoiseModel, parse_noise
from invdn_mobile.train.config import TrainConfig
from invdn_mobile.train.world import SharedError, World, device_of, join, noise_seed

CHECKPOINT = "last.pt"


def cpu_has_bf16() -> bool:
    try:
        return "avx512_bf16" in Path("/proc/cpuinfo").read_text()
    except OSError:
        return False


def use_bf16(config: TrainConfig, device: torch.device) -> bool:
    if config.autocast == "none":
        return False
    if config.autocast == "bf16":
        return True
    return device.type == "cuda" or cpu_has_bf16()


def losses(model: InvDN, clean: torch.Tensor, noisy: torch.Tensor, z: torch.Tensor, config: TrainConfig):
    """``(total, forward L2, backward L1)`` for one batch; ``z`` is the N(0, I) z_HF of the reverse pass."""
    latent = model(noisy)
    lr = latent[:, : model.lr_channels]
    target = F.interpolate(clean, scale_factor=1 / model.config.multiple, mode="bicubic", antialias=True)
    restored = model.reverse(torch.cat((lr, z.to(lr.dtype)), dim=1))
    l_forw = F.mse_loss(lr.float(), target)
    l_back = F.l1_loss(restored.float(), clean)
    return config.lambda_forw * l_forw + config.lambda_back * l_back, l_forw, l_back


class Objective(torch.nn.Module):
    """:func:`losses` as a module: the forward and the reverse pass in one call, which is what DDP wraps."""

    def __init__(self, model: InvDN, config: TrainConfig) -> None:
        super().__init__()
        self.model, self.config = model, config

    def forward(self, clean: torch.Tensor, noisy: torch.Tensor, z: torch.Tensor):
        return losses(self.model, clean, noisy, z, self.config)


def lr_at(config: TrainConfig, step: int, horizon: int | None = None) -> float:
    """The learning rate of step ``step`` (0-based): step halving, or linear warm-up then cosine decay to 0 at
    ``horizon`` (default ``config.steps``)."""
    if config.lr_schedule == "step":
        return config.lr * 0.5 ** sum(step >= m for m in config.lr_halve_at)
    if step < config.warmup_steps:
        return config.lr * (step + 1) / config.warmup_steps
    horizon = config.steps if horizon is None else horizon
    t = min(1.0, (step - config.warmup_steps) / max(1, horizon - config.warmup_steps))
    return config.lr * 0.5 * (1.0 + math.cos(math.pi * t))


def set_lr(optimizer: torch.optim.Optimizer, value: float) -> None:
    for group in optimizer.param_groups:
        if isinstance(group["lr"], torch.Tensor):
            group["lr"].fill_(value)
        else:
            group["lr"] = value


def make_optimizer(model: InvDN, config: TrainConfig, device: torch.device, graphs: bool, state: dict | None = None):
    """Adam (0.9, 0.999); under CUDA graphs ``capturable``, with a device tensor as lr (set between replays). A
    checkpoint's state is loaded and then put in this mode, so any checkpoint resumes with graphs or without."""
    lr = torch.tensor(config.lr, device=device) if graphs else config.lr
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, betas=(0.9, 0.999), capturable=graphs)
    if state is not None:
        optimizer.load_state_dict(state)
        for group in optimizer.param_groups:
            group["capturable"] = graphs
            group["lr"] = torch.tensor(float(group["lr"]), device=device) if graphs else float(group["lr"])
        for values in optimizer.state.values():
            values["step"] = values["step"].to(device if graphs else "cpu", torch.float32)
    return optimizer


class Step:
    """One optimisation step on ``(clean, noisy, z)``; returns the detached ``(total, forw, back)`` losses without
    synchronising. With ``graphs`` (CUDA) the first ``warmup`` calls run eagerly on a side stream, the next one is
    captured as a CUDA graph (forward, reverse, losses, backward, clipping, Adam) and every later call replays it:
    a step of many small convolutions is then bound by the GPU instead of by kernel launches from Python.
    ``objective`` computes the losses: :class:`Objective`, or its DDP wrapper (whose backward all-reduces the
    gradients: every rank then clips and steps the same averaged gradients)."""

    warmup = 3

    def __init__(self, objective, optimizer, config: TrainConfig, bf16: bool, device, graphs: bool, log=print) -> None:
        self.objective, self.optimizer, self.config, self.bf16, self.device = objective, optimizer, config, bf16, device
        self.graphs, self.log, self.calls = graphs, log, 0
        self.graph = self.static = self.out = None

    def eager(self, clean, noisy, z) -> torch.Tensor:
        cache = not self.graphs  # the autocast weight cache must not outlive a graph capture
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16, cache_enabled=cache):
            total, l_forw, l_back = self.objective(clean, noisy, z)
        self.optimizer.zero_grad(set_to_none=True)
        total.backward()
        torch.nn.utils.clip_grad_norm_(self.objective.parameters(), self.config.clip)
        self.optimizer.step()
        return torch.stack((total.detach(), l_forw.detach(), l_back.detach()))

    def __call__(self, clean, noisy, z) -> torch.Tensor:
        self.calls += 1
        if not self.graphs:
            return self.eager(clean, noisy, z)
        if self.graph is not None:
            for static, value in zip(self.static, (clean, noisy, z)):
                static.copy_(value)
            self.graph.replay()
            return self.out.clone()
        if self.calls <= self.warmup:  # eager warm-up on a side stream (cuDNN autotuning, lazy state)
            side = torch.cuda.Stream()
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side):
                out = self.eager(clean, noisy, z)
            torch.cuda.current_stream().wait_stream(side)
            return out
        self.static = (clean.clone(), noisy.clone(), z.clone())
        torch.cuda.synchronize()
        try:
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph, capture_error_mode="thread_local"):  # the pin-memory thread runs on
                self.out = self.eager(*self.static)
        except RuntimeError as exc:  # capture is best effort: the eager step is the same computation
            self.graphs = False
            self.log(f"CUDA graph capture failed ({str(exc).splitlines()[0]}); continuing without graphs")
            torch.cuda.synchronize()
            return self.eager(clean, noisy, z)
        self.graph = graph
        self.graph.replay()
        return self.out.clone()


@torch.no_grad()
def validate(model: InvDN, clean: torch.Tensor, noisy: torch.Tensor, device, batch: int = 8) -> torch.Tensor:
    """The PSNR (dB) of the seeded denoiser on each of the fixed noisy validation crops."""
    model.eval()
    denoiser = Denoiser(model)
    scores = [torch.empty(0)]
    for i in range(0, len(clean), batch):
        out = denoiser(noisy[i : i + batch].to(device)).clamp(0, 1).float().cpu()
        scores.append(psnr_batch(out, clean[i : i + batch]))
    model.train()
    return torch.cat(scores)


def weights_digest(model: InvDN) -> str:
    """SHA-256 of the parameters' bytes: equal on two ranks exactly when their weights are bit-identical."""
    h = hashlib.sha256()
    for p in model.parameters():
        h.update(p.detach().contiguous().cpu().numpy().tobytes())
    return h.hexdigest()


def _synced_time(device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter()


@dataclass
class Run:
    """One training call: what :func:`setup` builds, :func:`restore` restores, :func:`loop` advances and :func:`save`
    writes at the end."""

    config: TrainConfig
    world: World
    device: torch.device
    model: InvDN
    g: torch.Generator  # noise and z_HF
    bf16: bool
    channels_last: bool
    graphs: bool
    train_files: list[Path]
    val_files: list[Path]
    dataset: CropDataset
    noise: NoiseModel
    val: tuple[torch.Tensor, torch.Tensor] | None  # fixed (clean, noisy) validation crops
    optimizer: torch.optim.Optimizer | None = None
    step_fn: Step | None = None
    step: int = 0
    history: list = field(default_factory=list)
    elapsed: float = 0.0
    horizon: int | None = None

    @property
    def checkpoint(self) -> Path:
        return Path(self.config.out) / CHECKPOINT


def train(
    config: TrainConfig, resume: bool = True, progress: bool = True, log=print, stop_at: int | None = None
) -> Path:
    """Run (or resume) training; returns the path of the weights written at the end. ``stop_at`` ends this call
    after that step, with a checkpoint, as an interruption would (the run resumes from there).

    Started by torchrun, this process is one rank of a DDP run (:func:`invdn_mobile.train.world.join`): ``batch`` is
    per rank, rank ``r`` trains on its own shard of each step's crops and draws its own noise; only rank 0 logs and
    writes the run folder."""
    with join(config.device, config.dist_timeout_s) as world:
        if not world.main:
            log, progress = _silent, False
        run = setup(config, world)
        restore(run, resume, log)
        log(_describe(run))
        loop(run, progress, log, stop_at)
        return save(run, log)


def _describe(run: Run) -> str:
    config, world = run.config, run.world
    line = (
        f"training {config.variant} ({run.model.num_params():,} params) on {len(run.train_files)} photos "
        f"({len(run.val_files)} held out), {run.device}, {'bf16 autocast' if run.bf16 else 'fp32'}"
        f"{', channels_last' if run.channels_last else ''}{', CUDA graphs' if run.graphs else ''}, "
    )
    if world.size == 1:
        return line + f"batch {config.batch}x{config.crop}^2, {config.lr_schedule} lr {config.lr:g}"
    return line + (
        f"DDP over {world.size} ranks ({world.backend}): batch {config.batch}x{config.crop}^2 per rank, "
        f"{config.batch * world.size} crops per step; {config.lr_schedule} lr {config.lr:g} as configured "
        "(not scaled with the ranks)"
    )


def _silent(*_args) -> None:
    pass


def setup(config: TrainConfig, world: World) -> Run:
    """The device, the run folder (rank 0), the data, the noise model and the freshly initialised model (seeded)."""
    device = device_of(world, config.device)
    if config.threads:
        torch.set_num_threads(config.threads)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed shapes: let cuDNN pick the fastest kernels once
    if world.main:
        make_dir(Path(config.out))
    train_files, val_files = split_files(Path(config.data), config.val_fraction)
    dataset = CropDataset(load_uint8(train_files, config.crop), config.crop, config.seed, config.scale_min)
    noise = parse_noise(config.noise)

    torch.manual_seed(config.seed)
    model = InvDN(get_variant(config.variant)).to(device)
    channels_last = config.channels_last == "on" or (config.channels_last == "auto" and device.type == "cuda")
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    val = None
    if val_files:
        val_clean = center_crops(load_uint8(val_files, config.val_crop), config.val_crop)
        val = val_clean, noise(val_clean, torch.Generator().manual_seed(config.seed + 1))
    return Run(
        config=config,
        world=world,
        device=device,
        model=model,
        g=torch.Generator(device=device).manual_seed(noise_seed(config.seed, world.rank)),
        bf16=use_bf16(config, device),
        channels_last=channels_last,
        # under DDP the step stays eager: capturing DDP's all-reduce needs NCCL's error handling off (docs/training.md)
        graphs=config.cuda_graphs == "auto" and device.type == "cuda" and world.size == 1,
        train_files=train_files,
        val_files=val_files,
        dataset=dataset,
        noise=noise,
        val=val,
    )


def restore(run: Run, resume: bool, log) -> None:
    """Restore the model, the optimizer, the random streams and the progress from the run's checkpoint (with
    ``resume``, when there is one: rank 0 reads it and sends it to the other ranks), else warm-start from
    ``config.init`` if given; then make the optimizer and the step (DDP-wrapped in a world of several ranks)."""
    config, world, optimizer_state = run.config, run.world, None
    state = None
    if world.main and resume and run.checkpoint.is_file():
        state = torch.load(run.checkpoint, map_location="cpu", weights_only=False)
    state = world.from_main(state)
    if state is not None:
        if state["config"]["variant"] != config.variant:
            raise SharedError(f"{run.checkpoint} is a {state['config']['variant']!r} run, not {config.variant!r}")
        streams = state["noise_rng"] if isinstance(state["noise_rng"], list) else [state["noise_rng"]]
        if len(streams) != world.size:
            raise SharedError(
                f"{run.checkpoint} was written by {len(streams)} rank(s), this run has {world.size}: resume it with "
                f"{len(streams)} (the data position and each rank's noise stream depend on it), or start a new run "
                "from its weights with init"
            )
        run.model.load_state_dict(state["model"])
        optimizer_state = state["optimizer"]
        run.g.set_state(streams[world.rank])
        torch.set_rng_state(state["torch_rng"])
        run.step, run.history, run.elapsed = state["step"], state["history"], state["elapsed"]
        run.horizon = state.get("horizon")
        log(f"resumed {run.checkpoint} at step {run.step}")
    elif config.init and world.main:  # DDP gives the other ranks rank 0's weights
        start, _ = load_weights(Path(config.init), config.variant)
        run.model.load_state_dict(start.state_dict())
        log(f"warm start from {config.init}")
    run.optimizer = make_optimizer(run.model, config, run.device, run.graphs, optimizer_state)
    objective = Objective(run.model, config)
    if world.size > 1:  # broadcasts rank 0's weights; its backward all-reduces (averages) the gradients
        ids = [run.device.index] if run.device.type == "cuda" else None
        objective = DistributedDataParallel(objective, device_ids=ids)
    run.step_fn = Step(objective, run.optimizer, config, run.bf16, run.device, run.graphs, log)


def loop(run: Run, progress: bool, log, stop_at: int | None) -> None:
    """Train from ``run.step`` to ``config.steps`` (or the cosine horizon, the time budget, ``stop_at``): logs,
    validation and checkpoints on their schedules."""
    config, world, device, model, optimizer = run.config, run.world, run.device, run.model, run.optimizer
    model.train()
    step = run.step
    remaining = max(config.steps - step, 0)
    pin = device.type == "cuda"
    loader = crop_loader(run.dataset, config.batch, step, remaining, config.workers, pin, world.rank, world.size)
    z_shape = model.z_shape(config.crop, config.crop, config.batch)
    started = time.perf_counter() - run.elapsed
    window_t, window_n, window_sum = time.perf_counter(), 0, None
    # cosine + max_minutes: the step rate is measured over the second `calibrate_steps` steps of this call (the first
    # ones include data loading, cuDNN autotuning and the graph capture)
    calibrate = (step + config.calibrate_steps, step + 2 * config.calibrate_steps)
    fit_horizon = run.horizon is None and config.lr_schedule == "cosine" and config.max_minutes is not None
    bar = _progress(progress, config.steps, step)
    record = {"step": step, "loss": float("nan")}

    def flush(now: float) -> dict:
        """Synchronise once: the window's mean losses, over all ranks (and a stop on a non-finite loss)."""
        total, l_forw, l_back = world.mean(window_sum / window_n).tolist()
        if not math.isfinite(total):
            raise SharedError(f"loss became {total} before step {step}; lower lr or check the data")
        return {
            "step": step,
            "loss": total,
            "forw": l_forw,
            "back": l_back,
            "it_s": window_n / (now - window_t),
            "time_s": now - started,
        }

    for clean in loader:
        set_lr(optimizer, lr_at(config, step, run.horizon))
        clean = clean.to(device, non_blocking=True)
        noisy = run.noise(clean, run.g)
        z = torch.randn(z_shape, generator=run.g, device=device, dtype=torch.float32)
        if run.channels_last:
            clean = clean.contiguous(memory_format=torch.channels_last)
            noisy = noisy.contiguous(memory_format=torch.channels_last)
        values = run.step_fn(clean, noisy, z)
        window_sum = values if window_sum is None else window_sum + values
        step += 1
        window_n += 1
        over_time = config.max_minutes is not None and time.perf_counter() - started > 60 * config.max_minutes
        if world.size > 1 and config.max_minutes is not None:  # all ranks stop at the same step: checked at log steps
            over_time = step % config.log_every == 0 and world.any(over_time)
        ended = config.lr_schedule == "cosine" and run.horizon is not None and step >= run.horizon
        stop = over_time or ended or step == stop_at
        checkpoint = step % config.checkpoint_every == 0 or step == config.steps or stop
        if step % config.log_every == 0 or checkpoint:
            now = time.perf_counter()
            record = flush(now)
            window_t, window_n, window_sum = now, 0, None
            run.history.append(record)
            if not progress:
                log(json.dumps(record))
        if fit_horizon and step == calibrate[0]:
            calibrate_t = _synced_time(device)
        if fit_horizon and step == calibrate[1]:
            rate = config.calibrate_steps / (_synced_time(device) - calibrate_t)
            left = 60 * config.max_minutes - (time.perf_counter() - started)
            run.horizon = world.from_main(min(config.steps, step + int(0.95 * rate * left)))
            log(f"step {step}: {rate:.2f} it/s, cosine horizon set to step {run.horizon}")
        if run.val is not None and (step % config.val_every == 0 or step == config.steps):
            shard = [v[world.rank :: world.size] for v in run.val]  # each rank scores its share of the crops
            psnr = float(torch.cat(world.gather(validate(model, *shard, device))).mean())
            run.history.append({"step": step, "val_psnr": psnr})
            log(f"step {step}: validation PSNR {run.history[-1]['val_psnr']:.2f} dB")
        if bar is not None:
            bar.update(step, record)
        if checkpoint:
            run.step, run.elapsed = step, time.perf_counter() - started
            save_checkpoint(run)
        if stop:
            why = "the cosine schedule ended" if ended else "time budget used" if over_time else "stopped"
            log(f"{why} at step {step}")
            break
    if bar is not None:
        bar.close()
    run.step, run.elapsed = step, time.perf_counter() - started


def save_checkpoint(run: Run) -> None:
    """``last.pt``, atomically: everything a resume needs to continue bit-exactly. In a world of several ranks, rank 0
    writes it with every rank's noise stream, after checking that all ranks hold bit-identical weights (a record of
    their digests goes into the history)."""
    world, noise_rng = run.world, run.g.get_state()
    if world.size > 1:
        noise_rng = world.gather(noise_rng)
        digests = world.gather(weights_digest(run.model))
        if len(set(digests)) > 1:
            raise SharedError(f"the ranks' weights differ at step {run.step} (sha256 {', '.join(digests)})")
        run.history.append({"step": run.step, "weights_sha256": digests})
        if not world.main:
            return
    state = {
        "model": run.model.state_dict(),
        "optimizer": run.optimizer.state_dict(),
        "step": run.step,
        "horizon": run.horizon,
        "noise_rng": noise_rng,
        "torch_rng": torch.get_rng_state(),
        "config": run.config.to_dict(),
        "history": run.history,
        "elapsed": run.elapsed,
    }
    with atomic_path(run.checkpoint) as tmp:
        torch.save(state, tmp)


def save(run: Run, log) -> Path:
    """Write the final weights (safetensors + JSON sidecar, with how they were trained; rank 0); returns their path."""
    config = run.config
    weights = Path(config.out) / f"invdn-{config.variant}.safetensors"
    if not run.world.main:
        return weights
    model = run.model.to(memory_format=torch.contiguous_format).cpu()
    val = [h["val_psnr"] for h in run.history if "val_psnr" in h]
    save_weights(
        weights,
        model,
        {
            "z": {"seed": 0, "scale": 1.0},
            "training": {
                "steps": run.step,
                "wall_time_s": round(run.elapsed, 1),
                "device": str(run.device),
                "bf16_autocast": run.bf16,
                "cuda_graphs": run.step_fn.graphs,
                **({"ranks": run.world.size, "backend": run.world.backend} if run.world.size > 1 else {}),
                "noise": config.noise,
                "data": [p.name for p in run.train_files],
                "validation_files": [p.name for p in run.val_files],
                "final_val_psnr": val[-1] if val else None,
                "config": config.to_dict(),
                "lineage": _lineage(run),
                "trained_on": time.strftime("%Y-%m-%d", time.gmtime()),
            },
        },
    )
    log(f"wrote {weights} after {run.step} steps ({run.elapsed / 60:.1f} min)")
    return weights


def _lineage(run: Run) -> list[str]:
    """The weights' history: the warm-start file's lineage (from its sidecar) and one line for this run."""
    config = run.config
    prior = []
    if config.init:
        try:  # an official .pth has no metadata; a malformed one must not cost the trained weights
            training = read_meta(Path(config.init)).get("training")
        except InvdnError:
            training = None
        lineage = training.get("lineage") if isinstance(training, dict) else None
        prior = [str(x) for x in lineage] if isinstance(lineage, list) else []
    start = f"warm start from {Path(config.init).name}" if config.init else "from scratch"
    line = (
        f"+ {run.step:,} steps (batch {config.batch} x {config.crop}^2, noise {config.noise}) on {run.device}, "
        f"{run.elapsed / 60:.1f} min, {start}"
    )
    return [*prior, line]


class _progress:
    """A rich progress bar with loss and it/s, or nothing when ``enabled`` is False."""

    def __new__(cls, enabled: bool, total: int, start: int):
        if not enabled:
            return None
        return super().__new__(cls)

    def __init__(self, enabled: bool, total: int, start: int) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self.progress = Progress(
            TextColumn("train"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[info]}"),
            TimeRemainingColumn(),
        )
        self.progress.start()
        self.task = self.progress.add_task("train", total=total, completed=start, info="")
        self.t0, self.s0 = time.perf_counter(), start

    def update(self, step: int, record: dict) -> None:
        rate = (step - self.s0) / max(time.perf_counter() - self.t0, 1e-9)
        self.progress.update(self.task, completed=step, info=f"loss {record['loss']:.4f}  {rate:.2f} it/s")

    def close(self) -> None:
        self.progress.stop()
