"""Hinge loss (Lim & Ye 2017, used by SNGAN/BigGAN): a margin on real and fake scores."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from gankit.divergences import NoDivergenceParams
from gankit.protocols import BuildEnv, LossInputs


class Hinge:
    """Critic: E_p relu(1 − T) + E_q relu(1 + T). Generator: −E_q T."""

    generator_uses_real = False
    scores_are_logits = True  # ADA's r_t = E sign(T(x_r)): 0 is the "can't tell" threshold

    def __init__(self, params: NoDivergenceParams, env: BuildEnv) -> None:
        self.params = params

    def critic_loss(self, b: LossInputs) -> Tensor:
        return F.relu(1 - b.real_scores).mean() + F.relu(1 + b.fake_scores).mean()

    def generator_loss(self, b: LossInputs) -> Tensor:
        return -b.fake_scores.mean()
