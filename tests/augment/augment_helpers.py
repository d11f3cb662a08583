"""Builders shared by the augmentation tests: bound augmentations and asymmetric test images."""

from __future__ import annotations

from typing import Any

import torch

from gankit.augment import ADAParams, DiffAugmentParams
from gankit.augment.ada import ADA
from gankit.augment.diffaugment import DiffAugment
from gankit.protocols import RunContext

CPU = torch.device("cpu")


def diffaugment(seed: int = 0, **params: Any) -> DiffAugment:
    aug = DiffAugment(DiffAugmentParams(**params))
    aug.bind(RunContext(device=CPU, seed=seed))
    return aug


def ada(seed: int = 0, logits: bool = True, ctx: RunContext | None = None, **params: Any) -> ADA:
    aug = ADA(ADAParams(**params), scores_are_logits=logits)
    aug.bind(ctx or RunContext(device=CPU, seed=seed))
    return aug


def left_bright(batch: int = 1, channels: int = 1, side: int = 16, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """+1 on the left half, −1 on the right: flipping it left-right changes its sign of asymmetry."""
    x = -torch.ones(batch, channels, side, side, dtype=dtype)
    x[..., : side // 2] = 1.0
    return x


def left_right(x: torch.Tensor) -> torch.Tensor:
    """Mean of the left half minus mean of the right half, per sample."""
    side = x.shape[-1]
    return x[..., : side // 2].mean(dim=(1, 2, 3)) - x[..., side // 2 :].mean(dim=(1, 2, 3))
