"""The training loop (paper 3.4 and 4.2): forward L2 on the LR channels vs the bicubic-downscaled clean image
(weight ``lambda_forw``), backward L1 of the reverse pass with a fresh N(0, I) z_HF vs the clean image; Adam
(0.9, 0.999) with step halving, gradient clipping; atomic, bit-exactly resumable checkpoints."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from invdn_mobile.atomic import atomic_path
from invdn_mobile.data.dataset import CropDataset, center_crops, crop_loader, load_uint8, split_files
from invdn_mobile.device import pick_device
from invdn_mobile.errors import InvdnError
from invdn_mobile.evaluate.metrics import psnr_torch
from invdn_mobile.model import Denoiser, InvDN, get_variant
from invdn_mobile.model.checkpoint import save_weights
from invdn_mobile.noise import parse_noise
from invdn_mobile.train.config import TrainConfig

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


def losses(model: InvDN, clean: torch.Tensor, noisy: torch.Tensor, g: torch.Generator, config: TrainConfig):
    """``(total, forward L2, backward L1)`` for one batch."""
    latent = model(noisy)
    lr = latent[:, : model.lr_channels]
    target = F.interpolate(clean, scale_factor=1 / model.config.multiple, mode="bicubic", antialias=True)
    z = torch.randn(latent[:, model.lr_channels :].shape, generator=g, device=clean.device, dtype=torch.float32)
    restored = model.reverse(torch.cat((lr, z.to(lr.dtype)), dim=1))
    l_forw = F.mse_loss(lr.float(), target)
    l_back = F.l1_loss(restored.float(), clean)
    return config.lambda_forw * l_forw + config.lambda_back * l_back, l_forw, l_back


def lr_at(config: TrainConfig, step: int) -> float:
    return config.lr * 0.5 ** sum(step >= m for m in config.lr_halve_at)


@torch.no_grad()
def validate(model: InvDN, clean: torch.Tensor, noisy: torch.Tensor, device, batch: int = 8) -> float:
    """Mean PSNR (dB) of the seeded denoiser on fixed noisy validation crops."""
    model.eval()
    denoiser = Denoiser(model)
    scores = []
    for i in range(0, len(clean), batch):
        out = denoiser(noisy[i : i + batch].to(device)).clamp(0, 1).float().cpu()
        scores.append(psnr_torch(out, clean[i : i + batch]))
    model.train()
    return float(torch.cat(scores).mean())


def save_checkpoint(path: Path, model, optimizer, step: int, g: torch.Generator, config, history, elapsed) -> None:
    state = {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "step": step,
        "noise_rng": g.get_state(),
        "torch_rng": torch.get_rng_state(),
        "config": config.to_dict(),
        "history": history,
        "elapsed": elapsed,
    }
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def train(config: TrainConfig, resume: bool = True, progress: bool = True, log=print) -> Path:
    """Run (or resume) training; returns the path of the weights written at the end."""
    device = pick_device(config.device)
    if config.threads:
        torch.set_num_threads(config.threads)
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    train_files, val_files = split_files(Path(config.data), config.val_fraction)
    images = load_uint8(train_files, config.crop)
    dataset = CropDataset(images, config.crop, config.seed)
    noise = parse_noise(config.noise)

    torch.manual_seed(config.seed)
    model = InvDN(get_variant(config.variant)).to(device)
    bf16 = use_bf16(config, device)
    channels_last = config.channels_last == "on" or (config.channels_last == "auto" and device.type == "cuda")
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, betas=(0.9, 0.999))
    g = torch.Generator(device=device).manual_seed(config.seed)
    step, history, elapsed = 0, [], 0.0

    ckpt = out / CHECKPOINT
    if resume and ckpt.is_file():
        state = torch.load(ckpt, map_location=device, weights_only=False)
        if state["config"]["variant"] != config.variant:
            raise InvdnError(f"{ckpt} is a {state['config']['variant']!r} run, not {config.variant!r}")
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        g.set_state(state["noise_rng"])
        torch.set_rng_state(state["torch_rng"])
        step, history, elapsed = state["step"], state["history"], state["elapsed"]
        log(f"resumed {ckpt} at step {step}")
    elif config.init:
        from invdn_mobile.model.checkpoint import load_weights

        start, _ = load_weights(Path(config.init), config.variant)
        model.load_state_dict(start.state_dict())
        log(f"warm start from {config.init}")

    val_clean = val_noisy = None
    if val_files:
        val_clean = center_crops(load_uint8(val_files, config.val_crop), config.val_crop)
        val_noisy = noise(val_clean, torch.Generator().manual_seed(config.seed + 1))

    log(
        f"training {config.variant} ({model.num_params():,} params) on {len(train_files)} photos "
        f"({len(val_files)} held out), {device}, {'bf16 autocast' if bf16 else 'fp32'}"
        f"{', channels_last' if channels_last else ''}, batch {config.batch}x{config.crop}^2"
    )
    model.train()
    remaining = config.steps - step
    loader = crop_loader(dataset, config.batch, step, max(remaining, 0), config.workers)
    started = time.perf_counter() - elapsed
    window_t, window_n = time.perf_counter(), 0
    bar = _progress(progress, config.steps, step)
    for clean in loader:
        for group in optimizer.param_groups:
            group["lr"] = lr_at(config, step)
        clean = clean.to(device, non_blocking=True)
        noisy = noise(clean, g)
        if channels_last:
            clean = clean.contiguous(memory_format=torch.channels_last)
            noisy = noisy.contiguous(memory_format=torch.channels_last)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            total, l_forw, l_back = losses(model, clean, noisy, g, config)
        if not math.isfinite(total.item()):
            raise InvdnError(f"loss became {total.item()} at step {step}; lower lr or check the data")
        optimizer.zero_grad(set_to_none=True)
        total.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.clip)
        optimizer.step()
        step += 1
        window_n += 1
        record = {"step": step, "loss": total.item(), "forw": l_forw.item(), "back": l_back.item()}
        if step % config.log_every == 0 or step == config.steps:
            now = time.perf_counter()
            record["it_s"] = window_n / (now - window_t)
            record["time_s"] = now - started
            window_t, window_n = now, 0
            history.append(record)
            if not progress:
                log(json.dumps(record))
        if val_clean is not None and (step % config.val_every == 0 or step == config.steps):
            history.append({"step": step, "val_psnr": validate(model, val_clean, val_noisy, device)})
            log(f"step {step}: validation PSNR {history[-1]['val_psnr']:.2f} dB")
        if bar is not None:
            bar.update(step, record)
        over_time = config.max_minutes is not None and time.perf_counter() - started > 60 * config.max_minutes
        if step % config.checkpoint_every == 0 or step == config.steps or over_time:
            save_checkpoint(ckpt, model, optimizer, step, g, config, history, time.perf_counter() - started)
        if over_time:
            log(f"time budget of {config.max_minutes} min used at step {step}")
            break
    if bar is not None:
        bar.close()
    elapsed = time.perf_counter() - started
    weights = out / f"invdn-{config.variant}.safetensors"
    model = model.to(memory_format=torch.contiguous_format).cpu()
    val = [h["val_psnr"] for h in history if "val_psnr" in h]
    save_weights(
        weights,
        model,
        {
            "z": {"seed": 0, "scale": 1.0},
            "training": {
                "steps": step,
                "wall_time_s": round(elapsed, 1),
                "device": str(device),
                "bf16_autocast": bf16,
                "noise": config.noise,
                "data": [p.name for p in train_files],
                "validation_files": [p.name for p in val_files],
                "final_val_psnr": val[-1] if val else None,
                "config": config.to_dict(),
            },
        },
    )
    log(f"wrote {weights} after {step} steps ({elapsed / 60:.1f} min)")
    return weights


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
