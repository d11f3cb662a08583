"""SNGAN-style ResNet generator and critic (Miyato 2018) for 32, 64 and 128 pixels.

Generator: a linear map to 4×4, then up-sampling residual blocks (BN, ReLU, nearest ×2, 3×3 conv, twice;
1×1 shortcut), BN, ReLU, 3×3 conv and tanh. Critic: an "optimized" first block, down-sampling residual
blocks to 8×8, two more blocks, ReLU, global sum pooling and a linear head; spectral norm throughout.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gankit.networks import ResNetCriticParams, ResNetGeneratorParams
from gankit.networks.layers import Norm2d, critic_output, maybe_sn, reset_conditional_norms, weight_of
from gankit.protocols import BuildEnv, DataInfo


def sngan_init(module: nn.Module) -> None:
    """SNGAN's code (Miyato's chainer ``sngan_projection``): Glorot-uniform everywhere, with gain √2 for the
    two 3×3 convolutions of each residual path (they follow ReLUs) and 1 for shortcuts, heads, embeddings and
    the generator's input and output layers; biases 0; (conditional) batch norm starts at scale 1, shift 0."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d | nn.Linear | nn.Embedding):
            nn.init.xavier_uniform_(weight_of(m), 1.0)
            if getattr(m, "bias", None) is not None:
                nn.init.zeros_(m.bias)
    for m in module.modules():
        if isinstance(m, GeneratorBlock | CriticBlock):
            nn.init.xavier_uniform_(weight_of(m.conv1), math.sqrt(2))
            nn.init.xavier_uniform_(weight_of(m.conv2), math.sqrt(2))
    reset_conditional_norms(module)


class GeneratorBlock(nn.Module):
    def __init__(self, cin: int, cout: int, num_classes: int | None) -> None:
        super().__init__()
        self.norm1, self.norm2 = Norm2d(cin, num_classes), Norm2d(cout, num_classes)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.shortcut = nn.Conv2d(cin, cout, 1)

    def forward(self, x: Tensor, labels: Tensor | None) -> Tensor:
        h = F.interpolate(F.relu(self.norm1(x, labels)), scale_factor=2, mode="nearest")
        h = self.conv2(F.relu(self.norm2(self.conv1(h), labels)))
        return h + self.shortcut(F.interpolate(x, scale_factor=2, mode="nearest"))


class CriticBlock(nn.Module):
    def __init__(self, cin: int, cout: int, down: bool, sn: bool, first: bool = False) -> None:
        super().__init__()
        self.conv1 = maybe_sn(nn.Conv2d(cin, cout, 3, padding=1), sn)
        self.conv2 = maybe_sn(nn.Conv2d(cout, cout, 3, padding=1), sn)
        self.shortcut = maybe_sn(nn.Conv2d(cin, cout, 1), sn) if (cin != cout or down) else None
        self.down, self.first = down, first

    def forward(self, x: Tensor) -> Tensor:
        # the "optimized" first block applies no ReLU to the image and pools before its shortcut conv
        h = self.conv2(F.relu(self.conv1(x if self.first else F.relu(x))))
        if self.down:
            h = F.avg_pool2d(h, 2)
        s = x
        if self.first:
            s = self.shortcut(F.avg_pool2d(s, 2))  # type: ignore[misc]
        else:
            if self.shortcut is not None:
                s = self.shortcut(s)
            if self.down:
                s = F.avg_pool2d(s, 2)
        return h + s


class ResNetGenerator(nn.Module):
    def __init__(self, p: ResNetGeneratorParams, info: DataInfo) -> None:
        super().__init__()
        channels, side, _ = info.shape
        classes = info.num_classes if p.conditional == "cbn" else None
        self.latent_dim, self.width = p.latent_dim, p.width
        self.project = nn.Linear(p.latent_dim, 4 * 4 * p.width)
        self.blocks = nn.ModuleList(
            [GeneratorBlock(p.width, p.width, classes) for _ in range(int(math.log2(side)) - 2)]
        )
        self.norm = nn.BatchNorm2d(p.width)
        self.out = nn.Conv2d(p.width, channels, 3, padding=1)
        sngan_init(self)

    def forward(self, z: Tensor, labels: Tensor | None = None) -> Tensor:
        x = self.project(z).view(z.shape[0], self.width, 4, 4)
        for block in self.blocks:
            x = block(x, labels)
        return torch.tanh(self.out(F.relu(self.norm(x))))


class ResNetCritic(nn.Module):
    kind = "score"

    def __init__(self, p: ResNetCriticParams, info: DataInfo) -> None:
        super().__init__()
        channels, side, _ = info.shape
        sn, w = p.spectral_norm, p.width
        downs = int(math.log2(side)) - 3  # down to 8×8
        blocks = [CriticBlock(channels, w, down=True, sn=sn, first=True)]
        blocks += [CriticBlock(w, w, down=True, sn=sn) for _ in range(downs - 1)]
        blocks += [CriticBlock(w, w, down=False, sn=sn) for _ in range(2)]
        self.blocks = nn.Sequential(*blocks)
        self.head = maybe_sn(nn.Linear(w, 1), sn)
        classes = info.num_classes or 1
        self.projection = maybe_sn(nn.Embedding(classes, w), sn) if p.conditional == "projection" else None
        self.classifier = nn.Linear(w, classes) if p.conditional == "acgan" else None
        sngan_init(self)

    def forward(self, x: Tensor, labels: Tensor | None = None) -> Tensor | tuple[Tensor, Tensor]:
        h = F.relu(self.blocks(x)).sum(dim=(2, 3))
        return critic_output(h, self.head, self.projection, self.classifier, labels)


def _info(env: BuildEnv) -> DataInfo:
    if env.data is None or not env.data.is_image:
        raise ValueError("ResNet networks need image data")
    return env.data


def build_generator(params: ResNetGeneratorParams, env: BuildEnv) -> ResNetGenerator:
    return ResNetGenerator(params, _info(env))


def build_critic(params: ResNetCriticParams, env: BuildEnv) -> ResNetCritic:
    return ResNetCritic(params, _info(env))
