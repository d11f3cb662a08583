"""GAN-QP (Su 2018, arXiv 1811.07296): a quadratic potential replaces the Lipschitz constraint.

``Δ = T(x_r) − T(x_f)`` (or ``T(x_r, x_f) − T(x_f, x_r)`` with a pair critic). The critic maximises
``E[Δ − Δ²/(2λ d(x_r, x_f))]`` with ``d`` computed per pair; the quadratic term is in the critic loss only —
in the generator loss it would pull each fake towards an unrelated real image in pixel space.
"""

from __future__ import annotations

from torch import Tensor

from gankit.divergences import GANQPParams
from gankit.protocols import BuildEnv, LossInputs, critic_kind


def qp_delta(b: LossInputs) -> Tensor:
    """``Δ`` for a unary (score) or binary (pair) critic, shape ``(B,)``."""
    if critic_kind(b.critic) == "pair":
        t_rf, _ = b.call_critic(b.real, b.fake)
        t_fr, _ = b.call_critic(b.fake, b.real)
        return t_rf - t_fr
    return b.real_scores - b.fake_scores


class GANQP:
    generator_uses_real = True
    critic_kinds = GANQPParams.critic_kinds

    def __init__(self, params: GANQPParams, env: BuildEnv) -> None:
        self.params = params

    def critic_loss(self, b: LossInputs) -> Tensor:
        delta = qp_delta(b)
        d = b.pair_distance(self.params.distance) + self.params.eps
        return (-delta + delta.square() / (2 * self.params.lam * d)).mean()

    def generator_loss(self, b: LossInputs) -> Tensor:
        return qp_delta(b).mean()
