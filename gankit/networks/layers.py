"""Building blocks shared by the image networks: normalisation choices, conditional batch norm, spectral
norm switch, the resolution plan and the DCGAN paper's initialisation (SNGAN's lives in ``resnet``)."""

from __future__ import annotations

import math

from torch import Tensor, nn
from torch.nn.utils.parametrizations import spectral_norm


def maybe_sn(module: nn.Module, enabled: bool) -> nn.Module:
    return spectral_norm(module) if enabled else module


def critic_output(
    h: Tensor, head: nn.Module, projection: nn.Module | None, classifier: nn.Module | None, labels: Tensor | None
) -> Tensor | tuple[Tensor, Tensor]:
    """A critic's output from its pooled features ``h``: the linear score, plus the projection term
    ``<embed(y), h>`` (Miyato 2018) when it has one, and the ACGAN class logits beside the score when it has
    that head."""
    score = head(h).squeeze(1)
    if projection is not None:
        if labels is None:
            raise ValueError("a projection critic needs labels")
        score = score + (projection(labels) * h).sum(dim=1)
    if classifier is not None:
        return score, classifier(h)
    return score


def norm2d(kind: str, channels: int) -> nn.Module:
    """``batch``, ``layer`` (GroupNorm with one group: LayerNorm over C×H×W, any resolution) or ``none``."""
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "layer":
        return nn.GroupNorm(1, channels)
    return nn.Identity()


class ConditionalBatchNorm2d(nn.Module):
    """Batch norm whose scale and shift are looked up per class (de Vries 2017; used by SNGAN/BigGAN)."""

    def __init__(self, channels: int, num_classes: int) -> None:
        super().__init__()
        self.bn = nn.BatchNorm2d(channels, affine=False)
        self.gain = nn.Embedding(num_classes, channels)
        self.bias = nn.Embedding(num_classes, channels)
        nn.init.ones_(self.gain.weight)
        nn.init.zeros_(self.bias.weight)

    def forward(self, x: Tensor, labels: Tensor) -> Tensor:
        out = self.bn(x)
        return out * self.gain(labels)[:, :, None, None] + self.bias(labels)[:, :, None, None]


class Norm2d(nn.Module):
    """Batch norm, or conditional batch norm when ``num_classes`` is given; called as ``norm(x, labels)``."""

    def __init__(self, channels: int, num_classes: int | None) -> None:
        super().__init__()
        self.norm = ConditionalBatchNorm2d(channels, num_classes) if num_classes else nn.BatchNorm2d(channels)

    def forward(self, x: Tensor, labels: Tensor | None) -> Tensor:
        if isinstance(self.norm, ConditionalBatchNorm2d):
            if labels is None:
                raise ValueError("this generator is conditional: it needs labels")
            return self.norm(x, labels)
        return self.norm(x)


def resolution_plan(side: int) -> tuple[int, int]:
    """``(base, stages)``: start at ``base × base`` and double ``stages`` times. 28 = 7·2² (MNIST)."""
    if side == 28:
        return 7, 2
    stages = int(math.log2(side)) - 2
    if 2 ** (stages + 2) != side or stages < 1:
        raise ValueError(f"unsupported image side {side}: use a power of two ≥ 8, or 28")
    return 4, stages


def weight_of(m: nn.Module) -> Tensor:
    """The trainable weight, also behind a spectral-norm parametrization."""
    params = getattr(m, "parametrizations", None)
    return params.weight.original if params is not None else m.weight


def reset_conditional_norms(module: nn.Module) -> None:
    for m in module.modules():
        if isinstance(m, ConditionalBatchNorm2d):
            nn.init.ones_(m.gain.weight)
            nn.init.zeros_(m.bias.weight)


def dcgan_init(module: nn.Module) -> None:
    """DCGAN: every weight from N(0, 0.02), batch-norm scales from N(1, 0.02), biases 0."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d | nn.ConvTranspose2d | nn.Linear | nn.Embedding):
            nn.init.normal_(weight_of(m), 0.0, 0.02)
            if getattr(m, "bias", None) is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d | nn.BatchNorm1d) and m.affine:
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)
    reset_conditional_norms(module)
