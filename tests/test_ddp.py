"""`invdn train` as 2 CPU ranks (gloo, DistributedDataParallel) under the real torchrun launcher: identical weights on
every rank after every step, the loss curve of one process fed the same global batch, a bit-exact resume, one set of
files; and one clear line, not a hang, when the world cannot form or a rank stops answering."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from invdn_mobile.data.dataset import CropDataset, load_uint8, shard, split_files
from invdn_mobile.errors import InvdnError
from invdn_mobile.model import InvDN, get_variant
from invdn_mobile.model.checkpoint import load_weights
from invdn_mobile.noise import parse_noise
from invdn_mobile.train.config import load_config
from invdn_mobile.train.loop import Objective, Step, lr_at, make_optimizer, set_lr, train, weights_digest
from invdn_mobile.train.world import noise_seed

ROOT = Path(__file__).resolve().parent.parent
STEPS, BATCH, CROP = 4, 2, 16  # per rank: 2 ranks x 2 crops of 16x16 per step


def _config(tmp_path: Path, name: str, sample_clean: Path, **extra) -> Path:
    values = dict(
        variant="compact",
        data=str(sample_clean),
        out=str(tmp_path / name),
        crop=CROP,
        batch=BATCH,
        steps=STEPS,
        val_crop=CROP,
        val_every=2,
        checkpoint_every=1,
        log_every=1,
        lr_halve_at=[3],
        autocast="none",
        device="cpu",
        threads=1,
        dist_timeout_s=20,
    )
    values.update(extra)
    path = tmp_path / f"{name}.toml"
    path.write_text("".join(f"{k} = {_toml(v)}\n" for k, v in values.items()))
    return path


def _toml(value) -> str:
    return f'"{value}"' if isinstance(value, str) else str(value).lower() if isinstance(value, bool) else str(value)


def _env(**extra) -> dict:
    return {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", **extra}


def _torchrun(config: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"]
    cmd += ["-m", "invdn_mobile", "train", "--config", str(config), *args]
    return subprocess.run(cmd, cwd=cwd, env=_env(), capture_output=True, text=True, timeout=240)


def _checkpoint(out: Path) -> dict:
    return torch.load(out / "last.pt", map_location="cpu", weights_only=False)


def _one_process_losses(config) -> list[float]:
    """The loss of each step of ONE process (no DDP, no torch.distributed) fed each step's global batch of a 2-rank
    run: every rank's shard of the crops, with the noise and z_HF that rank draws from its own stream, concatenated."""
    files, _ = split_files(Path(config.data), config.val_fraction)
    dataset = CropDataset(load_uint8(files, config.crop), config.crop, config.seed, config.scale_min)
    noise = parse_noise(config.noise)
    torch.manual_seed(config.seed)
    model = InvDN(get_variant(config.variant))
    cpu = torch.device("cpu")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as each rank (config threads = 1)
    optimizer = make_optimizer(model, config, cpu, graphs=False)
    step_fn = Step(Objective(model, config), optimizer, config, False, cpu, False)
    streams = [torch.Generator().manual_seed(noise_seed(config.seed, rank)) for rank in range(2)]
    z_shape = model.z_shape(config.crop, config.crop, config.batch)
    losses = []
    for step in range(config.steps):
        parts = []
        for rank, g in enumerate(streams):
            clean = torch.stack([dataset[i] for i in shard(step, config.batch, rank, 2)])
            parts.append((clean, noise(clean, g), torch.randn(z_shape, generator=g)))
        set_lr(optimizer, lr_at(config, step))
        losses.append(float(step_fn(*(torch.cat(t) for t in zip(*parts)))[0]))
    torch.set_num_threads(threads)
    return losses


def test_two_ranks_train_as_one_process_on_the_global_batch_and_resume_bit_exactly(tmp_path, sample_clean):
    straight = _config(tmp_path, "straight", sample_clean)
    result = _torchrun(straight, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    out = tmp_path / "straight"

    # only rank 0 speaks and writes: one start line, one set of files, nothing else anywhere
    assert result.stdout.count("training compact") == 1 and result.stdout.count("weights: ") == 1
    assert "DDP over 2 ranks (gloo): batch 2x16^2 per rank, 4 crops per step" in result.stdout
    assert sorted(p.name for p in out.iterdir()) == ["invdn-compact.json", "invdn-compact.safetensors", "last.pt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["straight", "straight.toml"]

    # both ranks hold bit-identical weights after every step, and they are the weights written at the end
    history = _checkpoint(out)["history"]
    digests = {h["step"]: h["weights_sha256"] for h in history if "weights_sha256" in h}
    assert sorted(digests) == list(range(1, STEPS + 1))
    assert all(len(d) == 2 and d[0] == d[1] for d in digests.values())
    assert len({d[0] for d in digests.values()}) == STEPS  # and every step changed them
    final, _ = load_weights(out / "invdn-compact.safetensors", "compact")
    assert weights_digest(final) == digests[STEPS][0]

    # the loss of each step (the mean over the ranks) is the loss of one process on the same global batch, up to
    # float32 reduction order (per-rank convolutions and the gradient all-reduce sum in another order)
    losses = [h["loss"] for h in history if "loss" in h]
    reference = _one_process_losses(load_config(straight))
    assert len(losses) == STEPS
    assert losses == pytest.approx(reference, rel=1e-5)
    assert len(set(losses)) == STEPS  # the curve moves: matching it is not trivial

    # stopped after 2 steps, then resumed by a second torchrun: bit-identical to the uninterrupted run, step by step
    half = _config(tmp_path, "half", sample_clean)
    first = _torchrun(half, "--steps", "2", cwd=tmp_path)
    assert first.returncode == 0, first.stdout + first.stderr
    with pytest.raises(InvdnError, match="written by 2 rank"):  # its data position and noise streams need 2 ranks
        train(load_config(half, threads=0), progress=False, log=lambda *_: None)  # threads 0: leave torch's as is
    resumed = _torchrun(half, cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "resumed" in resumed.stdout and "at step 2" in resumed.stdout
    again = _checkpoint(tmp_path / "half")["history"]
    assert {h["step"]: h["weights_sha256"] for h in again if "weights_sha256" in h} == digests
    assert [h["loss"] for h in again if "loss" in h] == losses


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rank(config: Path, rank: int, port: int, cwd: Path) -> subprocess.Popen:
    """One rank started as torchrun starts it (its environment), without torchrun watching over it: as a rank on
    another machine, whose loss nobody on this machine would notice but the collectives."""
    env = _env(WORLD_SIZE="2", RANK=str(rank), LOCAL_RANK=str(rank), MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    cmd = [sys.executable, "-m", "invdn_mobile", "train", "--config", str(config)]
    return subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_a_world_that_cannot_form_is_one_line_and_writes_nothing(tmp_path, sample_clean):
    config = _config(tmp_path, "alone", sample_clean, dist_timeout_s=3)
    rank0 = _rank(config, 0, _free_port(), tmp_path)  # rank 1 never starts
    stdout, stderr = rank0.communicate(timeout=120)
    assert rank0.returncode == 2
    assert stderr.splitlines() == [stderr.strip()] and stderr.startswith("error: the world of 2 ranks did not form")
    assert "within dist_timeout_s = 3 s" in stderr and "1/2 clients joined" in stderr
    assert not (tmp_path / "alone").exists()


def test_a_rank_that_stops_answering_is_one_line_on_rank_0(tmp_path, sample_clean):
    config = _config(tmp_path, "hung", sample_clean, steps=100_000, dist_timeout_s=3)
    port = _free_port()
    ranks = [_rank(config, rank, port, tmp_path) for rank in (0, 1)]
    try:
        deadline = time.monotonic() + 120
        while not (tmp_path / "hung" / "last.pt").exists():  # training is under way
            assert time.monotonic() < deadline and ranks[0].poll() is None, ranks[0].communicate()
            time.sleep(0.2)
        ranks[1].send_signal(signal.SIGSTOP)  # rank 1 hangs: alive, connected, silent
        stdout, stderr = ranks[0].communicate(timeout=60)
    finally:
        ranks[1].kill()
        ranks[1].communicate()
    assert ranks[0].returncode == 2
    assert stderr.splitlines() == [stderr.strip()], stderr
    assert stderr.startswith("error: lost contact with the other ranks")
    assert "within dist_timeout_s = 3 s" in stderr and "Timed out" in stderr
    # what rank 0 wrote is whole: the last checkpoint loads, no temporary file is left
    assert _checkpoint(tmp_path / "hung")["step"] >= 1
    assert [p.name for p in (tmp_path / "hung").iterdir()] == ["last.pt"]
