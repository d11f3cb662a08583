"""What a feature extractor is once built: batched, device-placed, inference-only feature extraction."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn


@dataclass
class Features:
    """Features ``(N, D)`` (float32) and, for classifiers, logits ``(N, K)``."""

    features: Tensor
    logits: Tensor | None = None


class Extractor:
    """A feature extractor: subclasses implement :meth:`forward` on one batch already on the device.

    ``digest`` names the weights *and* the preprocessing: reference statistics cached on disk are keyed by it,
    so it must change whenever either changes. ``None`` disables the on-disk cache for this extractor.
    """

    name: str = "extractor"
    digest: str | None = None
    #: the module whose parameters live on the device (``None`` for extractors without weights)
    module: nn.Module | None = None

    def __init__(self, batch_size: int) -> None:
        self.batch_size = batch_size

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor | None]:
        raise NotImplementedError

    def to(self, device: torch.device) -> Extractor:
        if self.module is not None:
            self.module.to(device)
        return self

    @torch.inference_mode()
    def extract(self, x: Tensor, device: torch.device) -> Features:
        """Features of ``x`` (any device) computed in batches on ``device``; results stay on ``device``."""
        self.to(device)
        if len(x) == 0:  # keep the feature width (ranks gathering rows need it): run one dummy sample
            f, lg = self.forward(torch.zeros((1, *x.shape[1:]), device=device))
            return Features(f.float().flatten(1)[:0], lg.float()[:0] if lg is not None else None)
        feats: list[Tensor] = []
        logits: list[Tensor] = []
        for i in range(0, len(x), self.batch_size):
            f, lg = self.forward(x[i : i + self.batch_size].to(device, torch.float32, non_blocking=True))
            feats.append(f.float().flatten(1))
            if lg is not None:
                logits.append(lg.float())
        return Features(torch.cat(feats), torch.cat(logits) if len(logits) == len(feats) else None)
