"""The data set 'plugin-template': one 2-D Gaussian blob — replace it with your own data.

A data source has ``info`` (a ``gankit.protocols.DataInfo``) and ``dataset(split)`` returning a map-style
dataset of ``(x, y)`` samples, ``y = -1`` when unlabelled. A ``TensorDataset`` is kept on the training device
and batched by index, the fastest path.
"""

from __future__ import annotations

from typing import Literal

import torch
from gankit.protocols import BuildEnv, DataInfo
from torch.utils.data import TensorDataset

from plugin_template.data import PluginTemplateDataParams


class PluginTemplateData:
    def __init__(self, params: PluginTemplateDataParams, seed: int) -> None:
        self.params = params
        self.info: DataInfo = params.info()
        self.seed = seed

    def dataset(self, split: Literal["train", "test"] = "train") -> TensorDataset:
        gen = torch.Generator().manual_seed(self.seed + (0 if split == "train" else 1_000_003))
        x = torch.randn(self.params.n_samples, 2, generator=gen) * self.params.std + torch.tensor(self.params.centre)
        return TensorDataset(x, torch.full((self.params.n_samples,), -1))


def build(params: PluginTemplateDataParams, env: BuildEnv) -> PluginTemplateData:
    return PluginTemplateData(params, env.spec.run.seed if env.spec is not None else 0)
