"""Relativistic GANs (Jolicoeur-Martineau 2018): the critic judges real relative to fake.

Both generator losses read real scores, so they declare ``generator_uses_real``.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from gankit.divergences import NoDivergenceParams
from gankit.protocols import BuildEnv, LossInputs


class RSGAN:
    """Critic: E softplus(−(T(x_r) − T(x_f))). Generator: E softplus(−(T(x_f) − T(x_r))); pairs by index."""

    generator_uses_real = True

    def __init__(self, params: NoDivergenceParams, env: BuildEnv) -> None:
        self.params = params

    def critic_loss(self, b: LossInputs) -> Tensor:
        return F.softplus(-(b.real_scores - b.fake_scores)).mean()

    def generator_loss(self, b: LossInputs) -> Tensor:
        return F.softplus(-(b.fake_scores - b.real_scores)).mean()


class RaSGAN:
    """Critic: E_p softplus(−(T(x_r) − E_q T)) + E_q softplus(T(x_f) − E_p T); generator: real and fake swapped."""

    generator_uses_real = True

    def __init__(self, params: NoDivergenceParams, env: BuildEnv) -> None:
        self.params = params

    @staticmethod
    def _loss(winner: Tensor, loser: Tensor) -> Tensor:
        return F.softplus(-(winner - loser.mean())).mean() + F.softplus(loser - winner.mean()).mean()

    def critic_loss(self, b: LossInputs) -> Tensor:
        return self._loss(b.real_scores, b.fake_scores)

    def generator_loss(self, b: LossInputs) -> Tensor:
        return self._loss(b.fake_scores, b.real_scores)
