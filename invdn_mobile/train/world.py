"""Training as several processes: the world torchrun describes in the environment (``WORLD_SIZE``, ``RANK``,
``LOCAL_RANK``, ``MASTER_ADDR``/``MASTER_PORT``), its process group and the few collectives the loop needs besides
DDP's own gradient all-reduce. A process started without torchrun is a world of one: nothing here talks to anyone.

The gradients go over NCCL on CUDA and gloo on CPU (chosen from the training device); the loop's own small messages
(loss means, the stop decision, random-stream states, weight digests, the checkpoint sent from rank 0) always go over
gloo, as CPU tensors and pickled objects. A collective that fails or waits longer than ``dist_timeout_s`` (a rank died,
hangs, or never joined) becomes a :class:`SharedError` with one line for rank 0 to print."""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import numpy as np
import torch
import torch.distributed as dist

from invdn_mobile.device import pick_device
from invdn_mobile.errors import InvdnError, first_line


class SharedError(InvdnError):
    """An error every rank meets at the same point (the same verdict on shared values, or the world breaking): rank 0
    reports it, the other ranks exit non-zero without repeating it."""


@dataclass
class World:
    rank: int = 0
    size: int = 1
    local_rank: int = 0
    backend: str = ""
    group: Any = None  # the gloo group of the loop's own collectives

    @property
    def main(self) -> bool:
        return self.rank == 0

    def mean(self, values: torch.Tensor) -> torch.Tensor:
        """The mean over the ranks of a small tensor (as is in a world of one; on the CPU otherwise)."""
        if self.size == 1:
            return values
        values = values.detach().cpu()
        dist.all_reduce(values, group=self.group)
        return values / self.size

    def any(self, flag: bool) -> bool:
        """Whether ``flag`` holds on any rank."""
        if self.size == 1:
            return flag
        value = torch.tensor([int(flag)])
        dist.all_reduce(value, op=dist.ReduceOp.MAX, group=self.group)
        return bool(value.item())

    def from_main(self, obj):
        """Rank 0's ``obj`` on every rank (picklable)."""
        if self.size == 1:
            return obj
        box = [obj]
        dist.broadcast_object_list(box, src=0, group=self.group)
        return box[0]

    def gather(self, obj) -> list:
        """Every rank's ``obj``, in rank order, on every rank."""
        if self.size == 1:
            return [obj]
        out = [None] * self.size
        dist.all_gather_object(out, obj, group=self.group)
        return out


def noise_seed(seed: int, rank: int) -> int:
    """The seed of rank ``rank``'s noise and z_HF stream: ``seed`` itself on rank 0 (so a world's rank 0 draws what a
    single process draws), an independent stream derived from ``(seed, rank)`` on the others."""
    if rank == 0:
        return seed
    return int(np.random.SeedSequence([seed, rank]).generate_state(1, np.uint64)[0] >> 1)


def device_of(world: World, name: str) -> torch.device:
    """The training device of this rank: ``cuda:LOCAL_RANK`` for CUDA in a world of several ranks."""
    device = pick_device(name)
    if world.size == 1 or device.type != "cuda":
        return device
    if world.local_rank >= torch.cuda.device_count():
        raise InvdnError(
            f"LOCAL_RANK {world.local_rank}, but this machine shows {torch.cuda.device_count()} "
            "CUDA GPU(s): start at most one process per GPU (torchrun --nproc-per-node)"
        )
    return torch.device("cuda", world.local_rank)


@contextlib.contextmanager
def join(device: str, timeout_s: float) -> Iterator[World]:
    """The world this process belongs to, for the duration of the block: a world of one without torchrun's
    environment, else the process group of ``WORLD_SIZE`` ranks (formed within ``timeout_s``, or one
    :class:`InvdnError`), whose failed collectives inside the block become :class:`SharedError`."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size <= 1:
        yield World()
        return
    rank, local_rank = int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))
    world = World(rank=rank, size=size, local_rank=local_rank)
    on = device_of(world, device)
    world.backend = "nccl" if on.type == "cuda" else "gloo"
    timeout = timedelta(seconds=timeout_s)
    try:
        if on.type == "cuda":
            torch.cuda.set_device(on)
        dist.init_process_group(world.backend, timeout=timeout, device_id=on if on.type == "cuda" else None)
        world.group = dist.new_group(backend="gloo", timeout=timeout) if world.backend != "gloo" else dist.group.WORLD
    except (RuntimeError, ValueError) as exc:  # DistStoreError / DistNetworkError are RuntimeErrors
        raise InvdnError(
            f"the world of {size} ranks did not form within dist_timeout_s = {timeout_s:g} s "
            f"({_short(exc)}); check that every rank started (torchrun --nnodes/--nproc-per-node) and can reach "
            f"{os.environ.get('MASTER_ADDR', '?')}:{os.environ.get('MASTER_PORT', '?')}"
        ) from None
    try:
        yield world
        dist.barrier(group=world.group)  # every rank gets here (rank 0 after writing the weights) or all fail
    except RuntimeError as exc:
        if not lost_contact(exc):
            raise
        raise SharedError(
            f"lost contact with the other ranks (a rank stopped, or did not answer within dist_timeout_s = "
            f"{timeout_s:g} s): {_short(exc)}"
        ) from None
    dist.destroy_process_group()


def lost_contact(exc: BaseException) -> bool:
    """Whether an exception is a collective that failed or timed out (NCCL's are ``DistError``s, gloo's plain
    RuntimeErrors raised from its transport)."""
    return isinstance(exc, dist.DistError) or "gloo" in str(exc) or "NCCL" in str(exc)


def _short(exc: BaseException) -> str:
    """The useful part of a torch.distributed message: no ``[source.cc:123]`` prefix, no boilerplate advice."""
    line = re.sub(r"^\[[^\]]*\]\s*", "", first_line(exc))
    return line.split(". This is typically")[0].rstrip(".")
