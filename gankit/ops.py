"""Tensor operations that losses and regularisers share: a small public toolkit for plugin authors.

Built-in divergences, the engine's R1/R2 regularisers and third-party plugins (see ``plugins/gankit-qp-power``)
all import these, so each is written once:

* :func:`unwrap` -- the plain module behind ``torch.compile`` and data-parallel wrappers;
* :func:`at_least_fp32` -- the float32 upcast that penalties and distances compute in;
* :func:`pair_delta` and :func:`pair_distance` -- GAN-QP's per-pair ``Δ`` and ``d(x_r, x_f)``;
* :func:`interpolates`, :func:`input_gradient_norms` -- gradient penalties at (interpolated) samples.

Gradient penalties call the critic eagerly, in float32 and outside autocast: compiled graphs have no double
backward, and in fp16 the double backward underflows. The weights are the same either way.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Literal

import torch
from torch import Tensor, nn

if TYPE_CHECKING:
    from gankit.protocols import LossInputs

#: ``"l1"``: mean absolute difference per pair; ``"l2"``: per-pixel root-mean-square difference
PairDistance = Literal["l1", "l2"]


def unwrap(module: nn.Module) -> nn.Module:
    """The module behind ``torch.compile`` (``_orig_mod``) and ``DistributedDataParallel``/``DataParallel``
    (``module``): where a component's own attributes (``kind``) and eager forward live."""
    module = getattr(module, "_orig_mod", module)
    if isinstance(module, nn.parallel.DistributedDataParallel | nn.DataParallel):
        module = module.module
    return getattr(module, "_orig_mod", module)


def at_least_fp32(x: Tensor) -> Tensor:
    """``x`` in float32, or kept in float64 (half precision loses too much for distances and penalties)."""
    return x.to(torch.promote_types(x.dtype, torch.float32))


def pair_distance(real: Tensor, fake: Tensor, kind: PairDistance) -> Tensor:
    """``d(x_r[i], x_f[i])`` per pair (paired by batch index), shape ``(B,)``, in at least float32.

    ``"l1"`` is the mean absolute difference over a sample's values; ``"l2"`` is the per-pixel
    root-mean-square difference ``sqrt(mean (x_r - x_f)²)`` -- the definition in the GAN-QP author's code, not
    the Euclidean norm (which is ``sqrt(D)`` times larger for ``D`` values per sample).
    """
    diff = (real - fake).flatten(1).float()
    if kind == "l1":
        return diff.abs().mean(dim=1)
    return diff.square().mean(dim=1).sqrt()


def pair_delta(b: LossInputs) -> Tensor:
    """GAN-QP's ``Δ`` per real/fake pair, shape ``(B,)``: ``T(x_r) − T(x_f)`` for a unary (score) critic, or
    ``T(x_r, x_f) − T(x_f, x_r)`` for a binary (pair) critic, whose kind is read through any wrapper."""
    from gankit.protocols import critic_kind

    if critic_kind(b.critic) == "pair":
        t_rf, _ = b.call_critic(b.real, b.fake)
        t_fr, _ = b.call_critic(b.fake, b.real)
        return t_rf - t_fr
    return b.real_scores - b.fake_scores


def interpolates(real: Tensor, fake: Tensor) -> Tensor:
    """``x̂ = ε x_r + (1 − ε) x_f`` with one ``ε ~ U[0, 1]`` per sample (from the global torch RNG), detached
    and in at least float32: the points where WGAN-GP and WGAN-div penalise the critic's gradient."""
    real, fake = at_least_fp32(real.detach()), at_least_fp32(fake.detach())
    eps = torch.rand(real.shape[0], *([1] * (real.dim() - 1)), device=real.device, dtype=real.dtype)
    return eps * real + (1 - eps) * fake


def input_gradients(
    critic: nn.Module, x: Tensor, labels: Tensor | None, augment: Callable[[Tensor], Tensor] | None = None
) -> Tensor:
    """``∇_x T(x)`` per sample, with a graph so a penalty on it trains the critic. The critic runs eagerly
    (unwrapped), in float32, outside autocast; ``x`` is detached first. A class head's logits are ignored.

    With an augmentation ``A`` (``LossInputs.augment``) the trained critic is ``T∘A``: the gradient is taken at the
    raw ``x``, through ``A``, as StyleGAN2-ADA's R1 does."""
    x = at_least_fp32(x.detach()).requires_grad_(True)
    out = unwrap(critic)(augment(x) if augment is not None else x, labels)
    scores = out[0] if isinstance(out, tuple) else out
    (grad,) = torch.autograd.grad(scores.float().sum(), x, create_graph=True)
    return grad


def input_gradient_norms(
    critic: nn.Module,
    x: Tensor,
    labels: Tensor | None,
    squared: bool = False,
    augment: Callable[[Tensor], Tensor] | None = None,
) -> Tensor:
    """``‖∇_x T(x)‖₂`` (or its square, which R1/R2 use and which needs no square root) per sample, ``(B,)``."""
    grad = input_gradients(critic, x, labels, augment).flatten(1)
    return grad.square().sum(dim=1) if squared else grad.norm(2, dim=1)


def interpolate_gradient_norms(b: LossInputs) -> Tensor:
    """``‖∇T(x̂)‖₂`` at per-sample interpolates of ``b.real`` and ``b.fake``; each interpolate takes its real
    sample's label (labels matter only to conditional critics)."""
    return input_gradient_norms(b.critic, interpolates(b.real, b.fake), b.real_labels, augment=b.augment)
