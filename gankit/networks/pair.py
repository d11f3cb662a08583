"""Binary critic ``T(x_a, x_b)`` for GAN-QP's general form (Su 2018): a shared encoder embeds both samples
and an MLP scores the ordered pair, so ``T(x_r, x_f) − T(x_f, x_r)`` is antisymmetric only if learnt.
Image encoders are DCGAN-shaped and DCGAN-initialised (N(0, 0.02)); flat ones keep PyTorch's defaults."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from gankit.networks import PairCriticParams
from gankit.networks.layers import dcgan_init, maybe_sn, resolution_plan
from gankit.protocols import BuildEnv, DataInfo


class PairCritic(nn.Module):
    kind = "pair"

    def __init__(self, p: PairCriticParams, info: DataInfo) -> None:
        super().__init__()
        sn = p.spectral_norm
        if info.is_image:
            channels, side, _ = info.shape
            base, stages = resolution_plan(side)
            widths = [p.width * min(2**i, 8) for i in range(stages)]
            layers: list[nn.Module] = []
            for cin, cout in zip([channels, *widths[:-1]], widths, strict=True):
                layers += [maybe_sn(nn.Conv2d(cin, cout, 4, 2, 1), sn), nn.LeakyReLU(0.2)]
            layers.append(nn.Flatten())
            features = widths[-1] * base * base
        else:
            features = p.width
            layers = [nn.Flatten(), maybe_sn(nn.Linear(math.prod(info.shape), p.width), sn), nn.LeakyReLU(0.2)]
        self.encoder = nn.Sequential(*layers)
        self.head = nn.Sequential(
            maybe_sn(nn.Linear(2 * features, p.hidden), sn), nn.LeakyReLU(0.2), maybe_sn(nn.Linear(p.hidden, 1), sn)
        )
        if info.is_image:
            dcgan_init(self)

    def forward(self, x_a: Tensor, x_b: Tensor) -> Tensor:
        if x_b is None or x_b.shape != x_a.shape:
            raise ValueError("a pair critic scores two batches of the same shape: critic(x_a, x_b)")
        codes = self.encoder(torch.cat([x_a, x_b]))
        h_a, h_b = codes.chunk(2)
        return self.head(torch.cat([h_a, h_b], dim=1)).squeeze(1)


def build(params: PairCriticParams, env: BuildEnv) -> PairCritic:
    if env.data is None:
        raise ValueError("the pair critic needs the data's shape")
    return PairCritic(params, env.data)
