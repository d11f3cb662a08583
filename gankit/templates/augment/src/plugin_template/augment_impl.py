"""The augmentation 'plugin-template': additive Gaussian noise — replace it with your own.

``augment(x)`` returns a batch of ``x``'s shape, differentiable with respect to ``x`` (the generator learns
through it). It draws from its own random generator, made in ``bind(ctx)`` from the run's per-rank seed, never
from the training RNG; ``state_dict``/``load_state_dict`` keep that generator in checkpoints so resume is exact.
"""

from __future__ import annotations

from typing import Any

import torch
from gankit.protocols import BuildEnv, RunContext
from torch import Tensor

from plugin_template.augment import PluginTemplateAugmentParams


class PluginTemplateAugment:
    """A gankit augmentation (``gankit.protocols.Augment``): ``x + std · ε`` with ``ε ~ N(0, I)``."""

    def __init__(self, params: PluginTemplateAugmentParams, env: BuildEnv) -> None:
        self.params = params
        self.gen = torch.Generator().manual_seed(0)

    def bind(self, ctx: RunContext) -> None:
        self.gen = torch.Generator(device=ctx.device).manual_seed(ctx.seed)

    def __call__(self, x: Tensor) -> Tensor:
        noise = torch.randn(x.shape, generator=self.gen, device=self.gen.device, dtype=x.dtype)
        return x + self.params.std * noise.to(x.device)

    def state_dict(self) -> dict[str, Any]:
        return {"rng": self.gen.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.gen.set_state(state["rng"])
