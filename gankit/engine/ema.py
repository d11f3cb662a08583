"""The generator's exponential moving average, as a ``torch.optim.swa_utils.AveragedModel``.

``AveragedModel.update_parameters`` compares its step counter with 0 and copies it to the device on every
call; on CUDA that is a host synchronisation per training step. :class:`GeneratorEMA` keeps the same state
(``module.*`` weights and buffers, ``n_averaged``) and the same update — ``w ← decay·w + (1−decay)·w_model``
via ``get_ema_multi_avg_fn``, a copy on the first update — but its counter stays on the CPU, so updating
never waits for the device. Buffers are averaged too (``use_buffers=True``): BatchNorm statistics follow
the averaged weights; integer buffers (``num_batches_tracked``) are copied.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn


class GeneratorEMA(AveragedModel):
    def __init__(self, model: nn.Module, decay: float) -> None:
        super().__init__(model, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)
        self.decay = decay

    @torch.no_grad()
    def update_parameters(self, model: nn.Module) -> None:  # type: ignore[override]
        mine = [*self.module.parameters(), *self.module.buffers()]
        theirs = [*model.parameters(), *model.buffers()]
        first = int(self.n_averaged) == 0  # a CPU tensor: no device synchronisation
        floats: tuple[list[torch.Tensor], list[torch.Tensor]] = ([], [])
        for ema_t, model_t in zip(mine, theirs, strict=True):
            if first or not ema_t.is_floating_point():
                ema_t.copy_(model_t.detach())
            else:
                floats[0].append(ema_t.detach())
                floats[1].append(model_t.detach())
        if floats[0]:
            assert self.multi_avg_fn is not None
            self.multi_avg_fn(floats[0], floats[1], self.n_averaged)
        self.n_averaged += 1
