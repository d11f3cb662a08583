"""The power-k QP divergence: critic loss E[−Δ + |Δ|^k / (k λ^(k−1) d^(k−1))], generator loss E[Δ].

As in GAN-QP, the potential belongs to the critic loss only (in the generator loss it would pull each fake
towards an unrelated real sample), and ``d`` is computed per real/fake pair, paired by batch index.
"""

from __future__ import annotations

from gankit.ops import pair_delta, pair_distance
from gankit.protocols import BuildEnv, LossInputs
from torch import Tensor

from gankit_qp_power import QPPowerParams


class QPPower:
    """A gankit divergence (:class:`gankit.protocols.Divergence`)."""

    #: the generator loss E[Δ] reads real scores, so the engine draws a real batch for the generator step
    generator_uses_real = True

    def __init__(self, params: QPPowerParams, env: BuildEnv) -> None:
        self.params = params

    def critic_loss(self, b: LossInputs) -> Tensor:
        p = self.params
        dl = pair_delta(b)  # Δ per real/fake pair, for a score or a pair critic (gankit's public ops)
        scale = p.lam * (pair_distance(b.real, b.fake, p.distance) + p.eps)  # λ d
        # |Δ|^k / (k λ^(k−1) d^(k−1)) written as (λd/k)·(|Δ|/(λd))^k: d^(k−1) alone underflows for small d
        potential = scale / p.power * (dl.abs() / scale).pow(p.power)
        b.log("qp_potential", potential.mean())
        return (-dl + potential).mean()

    def generator_loss(self, b: LossInputs) -> Tensor:
        return pair_delta(b).mean()
