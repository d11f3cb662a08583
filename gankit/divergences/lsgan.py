"""Least squares GAN (Mao 2017): squared distance of scores to targets instead of log-loss."""

from __future__ import annotations

from torch import Tensor

from gankit.divergences import LSGANParams
from gankit.protocols import BuildEnv, LossInputs


class LSGAN:
    """Critic: ½E_p (T − b)² + ½E_q (T − a)². Generator: ½E_q (T − c)²."""

    generator_uses_real = False

    def __init__(self, params: LSGANParams, env: BuildEnv) -> None:
        self.params = params

    def critic_loss(self, b: LossInputs) -> Tensor:
        p = self.params
        return 0.5 * (b.real_scores - p.b).square().mean() + 0.5 * (b.fake_scores - p.a).square().mean()

    def generator_loss(self, b: LossInputs) -> Tensor:
        return 0.5 * (b.fake_scores - self.params.c).square().mean()
