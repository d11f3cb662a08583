"""Building divergences and loss inputs for tests, from the registry like the engine does."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from gankit.plugins import get_registry
from gankit.protocols import BuildEnv, DataInfo, LossInputs


def divergence(name: str, **params: Any) -> Any:
    component = get_registry().lookup("divergence", name)
    return component.build(component.params_model(**params), BuildEnv(data=DataInfo(shape=(2,))))


class ColumnCritic(nn.Module):
    """Scores are the first coordinate of each sample: lets a test choose scores exactly."""

    kind = "score"

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return x[:, 0]


def inputs(critic: nn.Module, real: torch.Tensor, fake: torch.Tensor, step: str = "critic") -> LossInputs:
    return LossInputs(step=step, critic=critic, real=real, fake=fake)  # type: ignore[arg-type]
