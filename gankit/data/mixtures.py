"""2-D Gaussian mixtures with known modes (ring and grid): the standard mode-collapse test bed."""

from __future__ import annotations

from typing import Literal

import torch
from torch.utils.data import TensorDataset

from gankit.data import GridParams, RingParams
from gankit.protocols import BuildEnv, DataInfo


class MixtureSource:
    """Draws ``n_samples`` points once (seeded, so every process and resume sees the same set)."""

    def __init__(self, params: RingParams | GridParams, seed: int) -> None:
        self.params = params
        self.info: DataInfo = params.info()
        self.seed = seed

    def dataset(self, split: Literal["train", "test"] = "train") -> TensorDataset:
        gen = torch.Generator().manual_seed(self.seed + (0 if split == "train" else 1_000_003))
        centres = torch.tensor(self.info.modes, dtype=torch.float32)
        labels = torch.randint(len(centres), (self.params.n_samples,), generator=gen)
        noise = torch.randn(self.params.n_samples, 2, generator=gen) * self.params.std
        return TensorDataset(centres[labels] + noise, labels)


def build(params: RingParams | GridParams, env: BuildEnv) -> MixtureSource:
    seed = env.spec.run.seed if env.spec is not None else 0
    return MixtureSource(params, seed)
