"""Real batches in a deterministic, resumable order.

Each epoch is a permutation seeded by ``(seed, epoch)``; rank ``r`` of ``w`` takes every ``w``-th index, and
every rank keeps the same number, ``n // w``, so all ranks start each epoch together. Rank ``r``'s batch at
cursor ``c`` is positions ``w·c + r, w·c + r + w, ...`` of the permutation: the union over ranks of one step's
batches is exactly the batch one process with ``w`` times the batch size would draw. The position is just
``(epoch, cursor)``, so a resumed run continues with exactly the batches it would have seen.

A ``TensorDataset`` is moved to the training device once and batches are gathered by index (no workers, no
host copies); other datasets go through a ``DataLoader`` with workers, pinned memory and persistent workers,
and a private random generator (so creating it does not consume the global RNG that a resume restores).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, Sampler, TensorDataset

from gankit.errors import GankitError

#: offsets the run's seed so the evaluation subset does not follow the first epoch's order
REAL_SUBSET_SEED_OFFSET = 777


def real_subset(dataset: Any, n: int, seed: int, device: torch.device,
                labelled: bool) -> tuple[Tensor, Tensor | None]:
    """A fixed subset of ``n`` real samples, the same on every call and every rank: what metrics compare with
    (during training and in ``gankit eval``, so statistics cached by one are reused by the other)."""
    gen = torch.Generator().manual_seed(seed + REAL_SUBSET_SEED_OFFSET)
    idx = torch.randperm(len(dataset), generator=gen)[:n]
    if hasattr(dataset, "tensors"):
        x = dataset.tensors[0][idx]
        y = dataset.tensors[1][idx] if len(dataset.tensors) > 1 else None
    else:
        items = [dataset[int(i)] for i in idx]
        x = torch.stack([it[0] for it in items])
        y = torch.as_tensor([int(it[1]) for it in items])
    return x.to(device), (y.to(device) if (y is not None and labelled) else None)


def epoch_order(n: int, seed: int, epoch: int, rank: int, world_size: int) -> Tensor:
    """Rank ``rank``'s indices for ``epoch``: ``n // world_size`` of them."""
    gen = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    return torch.randperm(n, generator=gen)[rank::world_size][: n // world_size]


class _OrderSampler(Sampler[int]):
    def __init__(self, stream: BatchStream) -> None:
        self.stream = stream

    def __iter__(self) -> Iterator[int]:
        s = self.stream
        epoch, cursor = s.epoch, s.cursor
        while True:
            order = epoch_order(s.n, s.seed, epoch, s.rank, s.world_size)
            yield from order[cursor : s.batches_per_epoch * s.batch_size].tolist()
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
        self.batches_per_epoch = (self.n // world_size) // batch_size
        if self.batches_per_epoch < 1:
            per = f" per process ({world_size} processes)" if world_size > 1 else ""
            raise GankitError(
                f"run.batch_size: the data set has {self.n} samples, fewer than one batch of {batch_size}{per}"
            )
        self.epoch, self.cursor = 0, 0
        self._tensors: tuple[Tensor, ...] | None = None
        if isinstance(dataset, TensorDataset):
            self._tensors = tuple(t.to(device) for t in dataset.tensors)
        self._order: Tensor | None = None
        self._loader_iter: Iterator[Any] | None = None

    # position ---------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.epoch, "cursor": self.cursor, "world_size": self.world_size,
                "batch_size": self.batch_size}

    def load_state_dict(self, state: dict[str, int]) -> str | None:
        """Restore a position; returns a warning when it was saved with another world or batch size (the
        position is then converted to the nearest batch boundary, and the order is no longer identical)."""
        epoch, cursor = int(state["epoch"]), int(state["cursor"])
        old_world, old_batch = int(state.get("world_size", 1)), int(state.get("batch_size", self.batch_size))
        warning = None
        if (old_world, old_batch) != (self.world_size, self.batch_size):
            consumed = cursor * old_world  # samples of this epoch used by all ranks together
            cursor = consumed // self.world_size // self.batch_size * self.batch_size
            warning = (f"the checkpoint was written by {old_world} process(es) with batch size {old_batch}, "
                       f"this run has {self.world_size} with {self.batch_size}: the data order differs from "
                       "an uninterrupted run")
        if cursor >= self.batches_per_epoch * self.batch_size:
            epoch, cursor = epoch + 1, 0
        self.epoch, self.cursor = epoch, cursor
        self._order, self._loader_iter = None, None
        return warning

    def _advance(self) -> None:
        self.cursor += self.batch_size
        if self.cursor >= self.batches_per_epoch * self.batch_size:
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
        # seeds worker processes (random transforms) without touching the global RNG
        gen = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch * 7919 + self.rank)
        return DataLoader(
            self.dataset,
            batch_size=self.batch_size,
            sampler=_OrderSampler(self),
            num_workers=workers,
            pin_memory=self.device.type == "cuda",
            persistent_workers=workers > 0,
            prefetch_factor=4 if workers > 0 else None,
            drop_last=True,
            generator=gen,
        )
