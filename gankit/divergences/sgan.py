"""Standard GAN (Goodfellow 2014): the critic is a logistic classifier of real vs fake."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from gankit.divergences import NoDivergenceParams
from gankit.protocols import BuildEnv, LossInputs


class Minimax:
    """Critic: E_p softplus(−T) + E_q softplus(T). Generator: −E_q softplus(T) (saturating: the original
    minimax game; its gradient vanishes when the critic wins, which is why ``sgan-ns`` exists)."""

    generator_uses_real = False
    scores_are_logits = True  # ADA's r_t = E sign(T(x_r)): 0 is the "can't tell" threshold

    def __init__(self, params: NoDivergenceParams, env: BuildEnv) -> None:
        self.params = params

    def critic_loss(self, b: LossInputs) -> Tensor:
        return F.softplus(-b.real_scores).mean() + F.softplus(b.fake_scores).mean()

    def generator_loss(self, b: LossInputs) -> Tensor:
        return -F.softplus(b.fake_scores).mean()


class NonSaturating(Minimax):
    """Same critic; generator: E_q softplus(−T) (non-saturating, the usual practical choice)."""

    def generator_loss(self, b: LossInputs) -> Tensor:
        return F.softplus(-b.fake_scores).mean()
