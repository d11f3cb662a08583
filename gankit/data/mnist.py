"""MNIST, Fashion-MNIST and Stacked MNIST, held in memory as tensors in ``[-1, 1]``."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Literal

import torch
import torch.nn.functional as F
from torch.utils.data import TensorDataset

from gankit.data import MNISTParams, StackedMNISTParams
from gankit.data.idx import load_split
from gankit.protocols import BuildEnv, DataInfo


def to_unit_range(images: torch.Tensor, resolution: int) -> torch.Tensor:
    """uint8 ``(N, [C,] 28, 28)`` -> float32 ``(N, C, r, r)`` in ``[-1, 1]``; 32 pads with background (−1)."""
    x = images.float().div_(127.5).sub_(1.0)
    if x.dim() == 3:
        x = x.unsqueeze(1)
    if resolution == 32:
        x = F.pad(x, (2, 2, 2, 2), value=-1.0)
    return x


class MNISTSource:
    def __init__(self, params: MNISTParams) -> None:
        self.params = params
        self.info: DataInfo = params.info()
        self._cache: dict[str, TensorDataset] = {}

    def dataset(self, split: Literal["train", "test"] = "train") -> TensorDataset:
        if split not in self._cache:
            images, labels = load_split(Path(self.params.root), split)
            if split == "train" and self.params.limit is not None:
                images, labels = images[: self.params.limit], labels[: self.params.limit]
            self._cache[split] = TensorDataset(to_unit_range(images, self.params.resolution), labels.long())
        return self._cache[split]


class StackedMNISTSource:
    """Each sample stacks three digits drawn at random (seeded): 1,000 possible label triples = modes."""

    def __init__(self, params: StackedMNISTParams, seed: int) -> None:
        self.params, self.seed = params, seed
        info = params.info()
        self.info: DataInfo = replace(info, key=f"{info.key}-seed{seed}")
        self._cache: dict[str, TensorDataset] = {}

    def dataset(self, split: Literal["train", "test"] = "train") -> TensorDataset:
        if split not in self._cache:
            images, labels = load_split(Path(self.params.root), split)
            if split == "train" and self.params.limit is not None:
                images, labels = images[: self.params.limit], labels[: self.params.limit]
            gen = torch.Generator().manual_seed(self.seed + (0 if split == "train" else 1))
            n = self.params.n_samples if split == "train" else min(self.params.n_samples, 10_000)
            idx = torch.randint(len(images), (n, 3), generator=gen)
            stacked = to_unit_range(images[idx], self.params.resolution)  # (n, 3, r, r)
            digits = labels[idx].long()
            self._cache[split] = TensorDataset(stacked, digits[:, 0] * 100 + digits[:, 1] * 10 + digits[:, 2])
        return self._cache[split]


def build(params: MNISTParams, env: BuildEnv) -> MNISTSource:
    return MNISTSource(params)


def build_stacked(params: StackedMNISTParams, env: BuildEnv) -> StackedMNISTSource:
    return StackedMNISTSource(params, env.spec.run.seed if env.spec is not None else 0)
