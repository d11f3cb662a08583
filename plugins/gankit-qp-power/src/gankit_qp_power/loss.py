"""The power-k QP divergence: critic loss E[−Δ + |Δ|^k / (k λ^(k−1) d^(k−1))], generator loss E[Δ].

As in GAN-QP, the potential belongs to the critic loss only (in the generator loss it would pull each fake
towards an unrelated real sample), and ``d`` is computed per real/fake pair, paired by batch index.
"""

from __future__ import annotations

from gankit.protocols import BuildEnv, LossInputs, critic_kind
from torch import Tensor

from gankit_qp_power import QPPowerParams


def delta(b: LossInputs) -> Tensor:
    """``Δ`` per pair, shape ``(B,)``: ``T(x_r) − T(x_f)``, or ``T(x_r, x_f) − T(x_f, x_r)`` for a pair critic."""
    if critic_kind(b.critic) == "pair":
        t_rf, _ = b.call_critic(b.real, b.fake)
        t_fr, _ = b.call_critic(b.fake, b.real)
        return t_rf - t_fr
    return b.real_scores - b.fake_scores


class QPPower:
    """A gankit divergence (:class:`gankit.protocols.Divergence`)."""

    #: the generator loss E[Δ] reads real scores, so the engine draws a real batch for the generator step
    generator_uses_real = True
    critic_kinds = QPPowerParams.critic_kinds

    def __init__(self, params: QPPowerParams, env: BuildEnv) -> None:
        self.params = params

    def critic_loss(self, b: LossInputs) -> Tensor:
        p = self.params
        dl = delta(b)
        scale = p.lam * (b.pair_distance(p.distance) + p.eps)  # λ d
        # |Δ|^k / (k λ^(k−1) d^(k−1)) written as (λd/k)·(|Δ|/(λd))^k: d^(k−1) alone underflows for small d
        potential = scale / p.power * (dl.abs() / scale).pow(p.power)
        b.log("qp_potential", potential.mean())
        return (-dl + potential).mean()

    def generator_loss(self, b: LossInputs) -> Tensor:
        return delta(b).mean()
