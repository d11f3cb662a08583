"""Mode coverage of (Stacked) MNIST (VEEGAN/PacGAN protocol, THEORY.md §5).

The packaged MNIST classifier labels each channel's digit; a sample's mode is its label tuple (``100·d₁ +
10·d₂ + d₃`` for three channels: 1,000 modes). Reported: modes with at least one sample (the published
tables count every sample), the share of high-quality samples (every channel's digit predicted with
probability ``≥ min_confidence``), and the reverse KL ``KL(q ‖ uniform)`` of the mode histogram ``q`` of all
samples.
"""

from __future__ import annotations

import torch
from torch import Tensor

from gankit.errors import GankitError
from gankit.features.mnist import ClassifierExtractor
from gankit.metrics import StackedMNISTModesParams
from gankit.metrics.feature_metrics import FeatureMetric
from gankit.metrics.features import fake_samples, gather_rows
from gankit.protocols import BuildEnv, EvalContext


def histogram_stats(labels: Tensor, n_modes: int) -> tuple[int, float]:
    """Modes hit at least once, and ``KL(histogram ‖ uniform over n_modes)``."""
    counts = torch.bincount(labels.flatten().long().cpu(), minlength=n_modes).double()
    freq = counts / counts.sum()
    nz = freq > 0
    return int(nz.sum()), float((freq[nz] * (freq[nz] * n_modes).log()).sum())


class StackedMNISTModes(FeatureMetric):
    params: StackedMNISTModesParams

    def __init__(self, params: StackedMNISTModesParams, env: BuildEnv) -> None:
        super().__init__(params, env)
        assert env.data is not None  # checked by the params' problems()
        self.channels = env.data.shape[0]

    def channel_probs(self, ctx: EvalContext) -> Tensor:
        """Per-channel digit probabilities ``(n, C, 10)`` of the generated samples, gathered over ranks."""
        extractor = self.extractor
        if not isinstance(extractor, ClassifierExtractor):
            raise GankitError("stacked-mnist-modes needs the packaged mnist-classifier")
        x = fake_samples(ctx, self.params.n_samples)
        extractor.to(ctx.device)
        with torch.inference_mode():
            probs = [extractor.channel_logits(x[i : i + extractor.batch_size].to(ctx.device)).softmax(dim=-1)
                     for i in range(0, len(x), extractor.batch_size)]
        local = torch.cat(probs) if probs else torch.zeros(0, self.channels, 10, device=ctx.device)
        return gather_rows(local, ctx)

    def __call__(self, ctx: EvalContext) -> dict[str, float]:
        probs = self.channel_probs(ctx)
        best, digits = probs.max(dim=-1)  # (n, C)
        powers = 10 ** torch.arange(self.channels - 1, -1, -1, device=digits.device)
        modes, kl = histogram_stats((digits * powers).sum(dim=1), 10**self.channels)
        confident = (best >= self.params.min_confidence).all(dim=1)
        return {"modes": float(modes), "high_quality": float(confident.double().mean() * 100), "reverse_kl": kl}


def build(params: StackedMNISTModesParams, env: BuildEnv) -> StackedMNISTModes:
    return StackedMNISTModes(params, env)
