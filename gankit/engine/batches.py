"""Real batches in a deterministic, resumable order.

Each epoch is a permutation seeded by ``(seed, epoch)``; rank ``r`` of ``w`` takes every ``w``-th index. The
position is just ``(epoch, cursor)``, so a resumed run continues with exactly the batches it would have seen.
A ``TensorDataset`` is moved to the training device once and batches are gathered by index (no workers, no
host copies); other datasets go through a ``DataLoader`` with workers, pinned memory and persistent workers.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, Sampler, TensorDataset


def epoch_order(n: int, seed: int, epoch: int, rank: int, world_size: int) -> Tensor:
    gen = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    return torch.randperm(n, generator=gen)[rank::world_size]


class _OrderSampler(Sampler[int]):
    def __init__(self, stream: BatchStream) -> None:
        self.stream = stream

    def __iter__(self) -> Iterator[int]:
        s = self.stream
        epoch, cursor = s.epoch, s.cursor
        while True:
            order = epoch_order(s.n, s.seed, epoch, s.rank, s.world_size)
            usable = len(order) - len(order) % s.batch_size
            yield from order[cursor:usable].tolist()
            epoch, cursor = epoch + 1, 0

    def __len__(self) -> int:  # infinite in practice; DataLoader only needs a number
        return 2**62


class BatchStream:
    """Infinite stream of ``(x, y)`` batches (``y`` is ``None`` for unlabelled data)."""

    def __init__(
        self,
        dataset: Dataset,
        batch_size: int,
        device: torch.device,
        seed: int,
        rank: int = 0,
        world_size: int = 1,
        num_workers: int = 0,
        labelled: bool = False,
    ) -> None:
        self.dataset, self.batch_size, self.device = dataset, batch_size, device
        self.seed, self.rank, self.world_size = seed, rank, world_size
        self.num_workers, self.labelled = num_workers, labelled
        self.n = len(dataset)  # type: ignore[arg-type]
        if self.n // world_size < batch_size:
            raise ValueError(f"the data set has {self.n} samples, fewer than one batch of {batch_size} per process")
        self.epoch, self.cursor = 0, 0
        self._tensors: tuple[Tensor, ...] | None = None
        if isinstance(dataset, TensorDataset):
            self._tensors = tuple(t.to(device) for t in dataset.tensors)
        self._order: Tensor | None = None
        self._loader_iter: Iterator[Any] | None = None

    # position ---------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.epoch, "cursor": self.cursor}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.epoch, self.cursor = int(state["epoch"]), int(state["cursor"])
        self._order, self._loader_iter = None, None

    def _advance(self) -> None:
        self.cursor += self.batch_size
        per_rank = len(range(self.rank, self.n, self.world_size))
        if self.cursor + self.batch_size > per_rank:
            self.epoch, self.cursor = self.epoch + 1, 0
            self._order = None

    # batches ----------------------------------------------------------------------------------
    def next(self) -> tuple[Tensor, Tensor | None]:
        if self._tensors is not None:
            if self._order is None:
                self._order = epoch_order(self.n, self.seed, self.epoch, self.rank, self.world_size).to(self.device)
            idx = self._order[self.cursor : self.cursor + self.batch_size]
            x = self._tensors[0].index_select(0, idx)
            y = self._tensors[1].index_select(0, idx) if len(self._tensors) > 1 else None
        else:
            if self._loader_iter is None:
                self._loader_iter = iter(self._make_loader())
            x, y = next(self._loader_iter)
            x = x.to(self.device, non_blocking=True)
            y = y.to(self.device, non_blocking=True)
        self._advance()
        return x, (y if self.labelled else None)

    def _make_loader(self) -> DataLoader:
        workers = self.num_workers
        return DataLoader(
            self.dataset,
            batch_size=self.batch_size,
            sampler=_OrderSampler(self),
            num_workers=workers,
            pin_memory=self.device.type == "cuda",
            persistent_workers=workers > 0,
            prefetch_factor=4 if workers > 0 else None,
            drop_last=True,
        )
