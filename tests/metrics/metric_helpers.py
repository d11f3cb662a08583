"""Shared helpers for the metrics tests: fake evaluation contexts and synthetic Inception weights."""

from __future__ import annotations

import math
from pathlib import Path

import torch
from torch import Tensor

from gankit.protocols import DataInfo, EvalContext


def random_inception_state(seed: int = 1) -> dict[str, Tensor]:
    """A state dict for the FID Inception-v3 with sane magnitudes (activations stay O(1) through 94 layers)."""
    from gankit.features.inception import FIDInceptionV3

    gen = torch.Generator().manual_seed(seed)
    state: dict[str, Tensor] = {}
    for key, value in FIDInceptionV3().state_dict().items():
        if not value.dtype.is_floating_point:
            state[key] = value
        elif key.endswith("running_var"):
            state[key] = torch.rand(value.shape, generator=gen) + 0.5
        elif key.endswith("running_mean"):
            state[key] = torch.randn(value.shape, generator=gen) * 0.1
        elif value.dim() == 1:
            scale = torch.rand(value.shape, generator=gen) * 0.5 + 0.5
            state[key] = scale if key.endswith("weight") else torch.randn(value.shape, generator=gen) * 0.1
        else:
            state[key] = torch.randn(value.shape, generator=gen) / math.sqrt(value[0].numel())
    return state


def pattern_images(n: int = 2, size: int = 32) -> Tensor:
    """Deterministic RGB images in [-1, 1] (no RNG: the same on every machine)."""
    y, x = torch.meshgrid(torch.linspace(-1, 1, size), torch.linspace(-1, 1, size), indexing="ij")
    images = []
    for i in range(n):
        images.append(torch.stack([torch.sin(3 * x + i), torch.cos(2 * y - i), x * y]))
    return torch.stack(images).clamp(-1, 1)


def make_ctx(real: Tensor, fake: Tensor, info: DataInfo, cache_dir: Path) -> EvalContext:
    """An EvalContext over fixed tensors: ``sample_fake(n)`` returns the first ``n`` generated samples (then the
    next ones), ``sample_real(n, split)`` the first ``n`` real samples."""
    position = {"fake": 0}

    def sample_fake(n: int) -> tuple[Tensor, None]:
        start = position["fake"]
        position["fake"] = start + n
        return fake[start : start + n], None

    def sample_real(n: int, split: str = "train") -> tuple[Tensor, None]:
        return real[:n], None

    return EvalContext(info=info, device=torch.device("cpu"), sample_fake=sample_fake, sample_real=sample_real,
                       cache_dir=cache_dir)
