"""The critic 'plugin-template': a two-hidden-layer MLP scoring flattened samples — make it yours.

A score critic is an ``nn.Module`` with ``kind = "score"`` whose ``forward(x, labels=None)`` returns one raw
score per sample, shape ``(B,)``; see ``gankit.protocols.Critic`` for autoencoder and pair critics.
"""

from __future__ import annotations

import math

from gankit.protocols import BuildEnv, DataInfo
from torch import Tensor, nn

from plugin_template.critic import PluginTemplateCriticParams


class PluginTemplateCritic(nn.Module):
    kind = PluginTemplateCriticParams.critic_kind

    def __init__(self, params: PluginTemplateCriticParams, info: DataInfo) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Flatten(),
            nn.Linear(math.prod(info.shape), params.hidden), nn.LeakyReLU(0.2),
            nn.Linear(params.hidden, params.hidden), nn.LeakyReLU(0.2),
            nn.Linear(params.hidden, 1),
        )

    def forward(self, x: Tensor, labels: Tensor | None = None) -> Tensor:
        return self.net(x).squeeze(1)


def build(params: PluginTemplateCriticParams, env: BuildEnv) -> PluginTemplateCritic:
    if env.data is None:
        raise ValueError("needs the data's shape")
    return PluginTemplateCritic(params, env.data)
