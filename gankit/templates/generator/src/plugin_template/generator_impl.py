"""The generator 'plugin-template': a two-hidden-layer MLP from z to samples of the data's shape — make it yours.

A generator is an ``nn.Module`` with an integer ``latent_dim`` whose ``forward(z, labels=None)`` returns a
batch shaped like the data (``env.data.shape``); see ``gankit.protocols.Generator``.
"""

from __future__ import annotations

import math

from gankit.protocols import BuildEnv, DataInfo
from torch import Tensor, nn

from plugin_template.generator import PluginTemplateGeneratorParams


class PluginTemplateGenerator(nn.Module):
    def __init__(self, params: PluginTemplateGeneratorParams, info: DataInfo) -> None:
        super().__init__()
        self.latent_dim = params.latent_dim
        self.shape = info.shape
        self.net = nn.Sequential(
            nn.Linear(params.latent_dim, params.hidden), nn.ReLU(),
            nn.Linear(params.hidden, params.hidden), nn.ReLU(),
            nn.Linear(params.hidden, math.prod(info.shape)),
        )
        # images are scaled to [-1, 1]; 2-D points are unbounded
        self.out = nn.Tanh() if info.is_image else nn.Identity()

    def forward(self, z: Tensor, labels: Tensor | None = None) -> Tensor:
        return self.out(self.net(z)).view(-1, *self.shape)


def build(params: PluginTemplateGeneratorParams, env: BuildEnv) -> PluginTemplateGenerator:
    if env.data is None:
        raise ValueError("needs the data's shape")
    return PluginTemplateGenerator(params, env.data)
