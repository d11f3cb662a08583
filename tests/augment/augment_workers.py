"""Code that runs inside the two gloo processes of the augmentation's data-parallel test (spawned: a child
imports only this)."""

from __future__ import annotations

import os
import socket
import traceback
from pathlib import Path

import torch
from torch import nn


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class SignByRank(nn.Module):
    """Rank 0's critic scores every real sample +1 (overfitting), rank 1's −1: the global r_t is 0."""

    kind = "score"

    def __init__(self, value: float) -> None:
        super().__init__()
        self.value = value

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return torch.full((x.shape[0],), self.value)


def ada_worker(rank: int, world: int, port: int, folder: Path) -> None:
    """Two ranks with the per-rank seeds an engine hands out: their draws differ, their p stays identical."""
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world))
    torch.set_num_threads(1)
    result: dict = {"error": None}
    try:
        import torch.distributed as dist

        from gankit.augment import ADAParams
        from gankit.augment.ada import ADA
        from gankit.engine.distributed import all_reduce_mean
        from gankit.protocols import LossInputs, RunContext

        dist.init_process_group("gloo", rank=rank, world_size=world)
        ctx = RunContext(device=torch.device("cpu"), rank=rank, world_size=world, seed=1000 + rank,
                         all_reduce_mean=all_reduce_mean)
        aug = ADA(ADAParams(p_init=0.5, interval=2, speed_kimg=1.0), scores_are_logits=True)
        aug.bind(ctx)
        x = torch.linspace(-1, 1, 8 * 3 * 8 * 8).view(8, 3, 8, 8)
        result["augmented"] = aug(x)
        critic = SignByRank(1.0 if rank == 0 else -1.0)
        for _ in range(4):
            aug.after_critic_step(LossInputs(step="critic", critic=critic, fake=x, real=x))
        result["p"] = float(aug.p)
        dist.barrier()
        dist.destroy_process_group()
    except Exception:
        result["error"] = traceback.format_exc()
    torch.save(result, folder / f"result-{rank}.pt")
