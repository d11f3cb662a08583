"""GAN-QP (Su 2018, arXiv 1811.07296): a quadratic potential replaces the Lipschitz constraint.

``Δ = T(x_r) − T(x_f)`` (or ``T(x_r, x_f) − T(x_f, x_r)`` with a pair critic). The critic maximises
``E[Δ − Δ²/(2λ d(x_r, x_f))]`` with ``d`` computed per pair; the quadratic term is in the critic loss only —
in the generator loss it would pull each fake towards an unrelated real image in pixel space.
"""

from __future__ import annotations

from torch import Tensor

from gankit.divergences import GANQPParams
from gankit.ops import pair_delta, pair_distance
from gankit.protocols import BuildEnv, LossInputs


class GANQP:
    generator_uses_real = True

    def __init__(self, params: GANQPParams, env: BuildEnv) -> None:
        self.params = params

    def critic_loss(self, b: LossInputs) -> Tensor:
        delta = pair_delta(b)
        d = pair_distance(b.real, b.fake, self.params.distance) + self.params.eps
        return (-delta + delta.square() / (2 * self.params.lam * d)).mean()

    def generator_loss(self, b: LossInputs) -> Tensor:
        return pair_delta(b).mean()
