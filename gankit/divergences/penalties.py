"""Gradient penalties at per-sample interpolates between real and fake batches (WGAN-GP, WGAN-div).

The critic runs in float32 outside autocast (the double backward underflows in fp16) on
``x̂ = ε x_r + (1 − ε) x_f`` with one ``ε ~ U[0, 1]`` per sample. It runs eagerly even when the run compiles
the critic: compiled graphs do not support the double backward a penalty needs (same weights either way).
"""

from __future__ import annotations

import torch
from torch import Tensor

from gankit.protocols import LossInputs


def at_least_fp32(x: Tensor) -> Tensor:
    return x.to(torch.promote_types(x.dtype, torch.float32))


def interpolates(real: Tensor, fake: Tensor) -> Tensor:
    real, fake = at_least_fp32(real.detach()), at_least_fp32(fake.detach())
    eps = torch.rand(real.shape[0], *([1] * (real.dim() - 1)), device=real.device, dtype=real.dtype)
    return eps * real + (1 - eps) * fake


def gradient_norms(b: LossInputs, x_hat: Tensor, labels: Tensor | None) -> Tensor:
    """``‖∇T(x̂)‖₂`` per sample, with a graph so the penalty trains the critic."""
    x_hat = x_hat.requires_grad_(True)
    critic = getattr(b.critic, "_orig_mod", b.critic)  # the eager module behind torch.compile
    out = critic(b.augment(x_hat) if b.augment is not None else x_hat, labels)  # the critic is T∘A: through A
    scores = out[0] if isinstance(out, tuple) else out
    (grad,) = torch.autograd.grad(scores.float().sum(), x_hat, create_graph=True)
    return grad.flatten(1).norm(2, dim=1)


def interpolate_gradient_norms(b: LossInputs) -> Tensor:
    # the interpolate takes the real sample's label: labels only matter for conditional critics
    return gradient_norms(b, interpolates(b.real, b.fake), b.real_labels)
