"""Process-group setup and gradient averaging for data-parallel training (torchrun / Slurm / one process).

Why not ``DistributedDataParallel``: a GAN step calls the critic several times (real, fake, interpolates for
gradient penalties, which need double backward), and DDP's bucketed all-reduce hooks fire once per
backward of one forward. Averaging gradients explicitly after each ``backward`` — as NVlabs'
stylegan2-ada-pytorch does — is equivalent for plain data parallelism and correct for every loss shape.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

#: collectives give up after this long, so a dead rank makes the run fail instead of hanging forever
COLLECTIVE_TIMEOUT = datetime.timedelta(seconds=int(os.environ.get("GANKIT_DIST_TIMEOUT", "600")))


@dataclass(frozen=True)
class DistEnv:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def from_environment() -> DistEnv:
    """Read torchrun's (or Slurm's) variables; a single process when none are set."""
    env = os.environ
    if "WORLD_SIZE" in env and "RANK" in env:
        return DistEnv(int(env["RANK"]), int(env["WORLD_SIZE"]), int(env.get("LOCAL_RANK", "0")))
    if "SLURM_NTASKS" in env and "SLURM_PROCID" in env and "MASTER_ADDR" in env:
        return DistEnv(int(env["SLURM_PROCID"]), int(env["SLURM_NTASKS"]), int(env.get("SLURM_LOCALID", "0")))
    return DistEnv()


def init_process_group(denv: DistEnv, device: torch.device) -> None:
    if not denv.enabled or dist.is_initialized():
        return
    os.environ.setdefault("RANK", str(denv.rank))
    os.environ.setdefault("WORLD_SIZE", str(denv.world_size))
    backend = "nccl" if device.type == "cuda" else "gloo"
    dist.init_process_group(backend=backend, timeout=COLLECTIVE_TIMEOUT)


def shutdown() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def broadcast_module(module: nn.Module) -> None:
    """Make every rank start from rank 0's parameters and buffers."""
    if not dist.is_initialized():
        return
    for tensor in [*module.parameters(), *module.buffers()]:
        dist.broadcast(tensor.data, src=0)


def average_gradients(module: nn.Module) -> None:
    """All-reduce-average the gradients of ``module`` in one flattened buffer (one collective per call)."""
    if not dist.is_initialized() or dist.get_world_size() == 1:
        return
    params = [p for p in module.parameters() if p.grad is not None]
    if not params:
        return
    flat = torch.cat([p.grad.reshape(-1) for p in params])
    dist.all_reduce(flat)
    flat /= dist.get_world_size()
    offset = 0
    for p in params:
        n = p.grad.numel()
        p.grad.copy_(flat[offset : offset + n].view_as(p.grad))
        offset += n


def all_reduce_mean(t: torch.Tensor) -> torch.Tensor:
    if dist.is_initialized() and dist.get_world_size() > 1:
        t = t.clone()
        dist.all_reduce(t)
        t /= dist.get_world_size()
    return t
