"""The divergence 'plugin-template': a hinge loss with margin m — replace the two losses with your own.

Critic loss ``E_p relu(m − T(x_r)) + E_q relu(m + T(x_f))``; generator loss ``−E_q T(x_f)``.
``b`` (a ``gankit.protocols.LossInputs``) gives the real and fake batches, lazily computed critic scores, the
critic itself, labels, the run (``b.run``: device, ranks, a cross-rank mean) and ``b.log(name, value)`` for extra
values in the training log. ``gankit.ops`` has what losses share: per-pair distances and deltas, interpolates,
input-gradient norms for penalties.
"""

from __future__ import annotations

import torch.nn.functional as F
from gankit.protocols import BuildEnv, LossInputs
from torch import Tensor

from plugin_template.divergence import PluginTemplateDivergenceParams


class PluginTemplateDivergence:
    """A gankit divergence (``gankit.protocols.Divergence``)."""

    #: set to True if generator_loss reads b.real or b.real_scores: the engine then draws a real batch for it
    generator_uses_real = False

    def __init__(self, params: PluginTemplateDivergenceParams, env: BuildEnv) -> None:
        self.params = params

    def critic_loss(self, b: LossInputs) -> Tensor:
        m = self.params.margin
        return F.relu(m - b.real_scores).mean() + F.relu(m + b.fake_scores).mean()

    def generator_loss(self, b: LossInputs) -> Tensor:
        return -b.fake_scores.mean()
