"""Autoencoder critic for EBGAN and BEGAN: ``critic(x)`` is the per-sample reconstruction error, the energy
the divergences push down on real samples and up on fakes. Fully connected for points and flat data (PyTorch's
default initialisation, like ``mlp``), convolutional for images: a DCGAN-shaped encoder and decoder around a
linear code, initialised as DCGAN (N(0, 0.02)), which EBGAN's convolutional networks follow."""

from __future__ import annotations

import math

from torch import Tensor, nn

from gankit.networks import AutoencoderCriticParams
from gankit.networks.layers import dcgan_init, resolution_plan
from gankit.protocols import BuildEnv, DataInfo


class AutoencoderCritic(nn.Module):
    kind = "autoencoder"

    def __init__(self, p: AutoencoderCriticParams, info: DataInfo) -> None:
        super().__init__()
        self.shape = info.shape
        self.loss = p.loss
        if info.is_image:
            channels, side, _ = info.shape
            base, stages = resolution_plan(side)
            widths = [p.width * min(2**i, 8) for i in range(stages)]
            enc: list[nn.Module] = []
            for cin, cout in zip([channels, *widths[:-1]], widths, strict=True):
                enc += [nn.Conv2d(cin, cout, 4, 2, 1), nn.ELU()]
            enc += [nn.Flatten(), nn.Linear(widths[-1] * base * base, p.code_dim)]
            dec: list[nn.Module] = [
                nn.Linear(p.code_dim, widths[-1] * base * base),
                nn.Unflatten(1, (widths[-1], base, base)),
            ]
            rev = widths[::-1]
            for cin, cout in zip(rev, [*rev[1:], channels], strict=True):
                dec += [nn.ELU(), nn.ConvTranspose2d(cin, cout, 4, 2, 1)]
        else:
            flat = math.prod(info.shape)
            enc = [nn.Flatten(), nn.Linear(flat, p.width), nn.ELU(), nn.Linear(p.width, p.code_dim)]
            dec = [nn.Linear(p.code_dim, p.width), nn.ELU(), nn.Linear(p.width, flat), nn.Unflatten(1, info.shape)]
        self.encoder, self.decoder = nn.Sequential(*enc), nn.Sequential(*dec)
        if info.is_image:
            dcgan_init(self)

    def reconstruct(self, x: Tensor) -> Tensor:
        return self.decoder(self.encoder(x))

    def forward(self, x: Tensor, labels: Tensor | None = None) -> Tensor:
        diff = (self.reconstruct(x) - x).flatten(1)
        return diff.abs().mean(dim=1) if self.loss == "l1" else diff.square().mean(dim=1)


def build(params: AutoencoderCriticParams, env: BuildEnv) -> AutoencoderCritic:
    if env.data is None:
        raise ValueError("the autoencoder critic needs the data's shape")
    return AutoencoderCritic(params, env.data)
