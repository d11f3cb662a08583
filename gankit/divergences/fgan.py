"""f-GAN (Nowozin 2016): variational estimation of any f-divergence.

The critic's raw output ``v`` passes through the output activation ``g_f`` (which keeps it in the domain of
the conjugate ``f*``); the critic maximises ``E_p g_f(v) − E_q f*(g_f(v))``. Each ``f*(g_f(v))`` below is
written in closed form in ``v`` (e.g. JS: ``softplus(v) − log 2``) so no ``log`` or ``sqrt`` meets the edge of
its domain in floating point.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from gankit.divergences import FGANParams
from gankit.protocols import BuildEnv, LossInputs

LOG2 = math.log(2.0)

#: name -> (g_f(v), f*(g_f(v)))
ACTIVATIONS: dict[str, tuple[Callable[[Tensor], Tensor], Callable[[Tensor], Tensor]]] = {
    "kl": (lambda v: v, lambda v: torch.exp(v - 1)),
    "reverse-kl": (lambda v: -torch.exp(-v), lambda v: v - 1),
    "pearson": (lambda v: v, lambda v: v.square() / 4 + v),
    "neyman": (lambda v: 1 - torch.exp(v), lambda v: 2 - 2 * torch.exp(v / 2)),
    "hellinger": (lambda v: 1 - torch.exp(-v), lambda v: torch.exp(v) - 1),
    "js": (lambda v: LOG2 - F.softplus(-v), lambda v: F.softplus(v) - LOG2),
    "tv": (lambda v: 0.5 * torch.tanh(v), lambda v: 0.5 * torch.tanh(v)),
    "gan": (lambda v: -F.softplus(-v), lambda v: F.softplus(v)),
}


class FGAN:
    """Critic: −(E_p g_f(V) − E_q f*(g_f(V))). Generator: −E_q f*(g_f(V)) or, non-saturating, −E_q g_f(V)."""

    generator_uses_real = False

    def __init__(self, params: FGANParams, env: BuildEnv) -> None:
        self.params = params
        self.activation, self.conjugate = ACTIVATIONS[params.divergence]

    def critic_loss(self, b: LossInputs) -> Tensor:
        return -(self.activation(b.real_scores).mean() - self.conjugate(b.fake_scores).mean())

    def generator_loss(self, b: LossInputs) -> Tensor:
        if self.params.generator_loss == "saturating":
            return -self.conjugate(b.fake_scores).mean()
        return -self.activation(b.fake_scores).mean()
