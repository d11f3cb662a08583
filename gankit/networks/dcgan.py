"""DCGAN generator and critic (Radford 2015; THEORY.md §3) for square images of side 16–256 or 28.

The generator projects ``z`` to a ``base × base`` map (4×4, or 7×7 for 28-pixel MNIST) and doubles the side
with stride-2 transposed convolutions; the critic mirrors it with stride-2 convolutions. ``kernel = 5`` with
``head_bias = false`` is the GAN-QP reference network.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from gankit.networks import DCGANCriticParams, DCGANGeneratorParams
from gankit.networks.layers import Norm2d, critic_output, dcgan_init, maybe_sn, norm2d, resolution_plan
from gankit.protocols import BuildEnv, DataInfo


def _up(cin: int, cout: int, kernel: int, bias: bool) -> nn.ConvTranspose2d:
    # k4 p1 and k5 p2 (+1 output padding) both exactly double the side; a bias before batch norm is redundant
    return nn.ConvTranspose2d(cin, cout, kernel, 2, padding=(kernel - 1) // 2, output_padding=kernel % 2, bias=bias)


def _down(cin: int, cout: int, kernel: int, bias: bool) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, kernel, 2, padding=(kernel - 1) // 2, bias=bias)


class DCGANGenerator(nn.Module):
    def __init__(self, p: DCGANGeneratorParams, info: DataInfo) -> None:
        super().__init__()
        channels, side, _ = info.shape
        base, stages = resolution_plan(side)
        widths = [p.width * min(2 ** (stages - 1 - i), 8) for i in range(stages)]
        classes = info.num_classes if p.conditional == "cbn" else None
        self.latent_dim = p.latent_dim
        self.base, self.widths = base, widths
        self.embed = nn.Embedding(info.num_classes or 1, p.embed_dim) if p.conditional == "embedding" else None
        in_dim = p.latent_dim + (p.embed_dim if self.embed is not None else 0)
        self.project = nn.Linear(in_dim, widths[0] * base * base, bias=False)
        self.norms = nn.ModuleList([Norm2d(w, classes) for w in widths])
        outs = [*widths[1:], channels]
        last = len(widths) - 1
        self.ups = nn.ModuleList(
            [_up(w, o, p.kernel, bias=i == last) for i, (w, o) in enumerate(zip(widths, outs, strict=True))]
        )
        self.conditional = p.conditional
        dcgan_init(self)

    def forward(self, z: Tensor, labels: Tensor | None = None) -> Tensor:
        if self.embed is not None:
            if labels is None:
                raise ValueError("this generator is conditional: it needs labels")
            z = torch.cat([z, self.embed(labels)], dim=1)
        x = self.project(z).view(z.shape[0], self.widths[0], self.base, self.base)
        for norm, up in zip(self.norms, self.ups, strict=True):
            x = up(torch.relu(norm(x, labels)))
        return torch.tanh(x)


class DCGANCritic(nn.Module):
    kind = "score"

    def __init__(self, p: DCGANCriticParams, info: DataInfo) -> None:
        super().__init__()
        channels, side, _ = info.shape
        base, stages = resolution_plan(side)
        widths = [p.width * min(2**i, 8) for i in range(stages)]
        ins = [channels, *widths[:-1]]
        # no normalisation on the first block (DCGAN; the GAN-QP reference too); a bias is redundant before a
        # normalisation that has its own shift
        normed = [False] + [p.norm != "none"] * (stages - 1)
        self.convs = nn.ModuleList(
            [
                maybe_sn(_down(i, o, p.kernel, bias=not n), p.spectral_norm)
                for i, o, n in zip(ins, widths, normed, strict=True)
            ]
        )
        self.norms = nn.ModuleList([nn.Identity(), *(norm2d(p.norm, w) for w in widths[1:])])
        features = widths[-1] * base * base
        self.head = maybe_sn(nn.Linear(features, 1, bias=p.head_bias), p.spectral_norm)
        classes = info.num_classes or 1
        self.projection = (
            maybe_sn(nn.Embedding(classes, features), p.spectral_norm) if p.conditional == "projection" else None
        )
        self.classifier = nn.Linear(features, classes) if p.conditional == "acgan" else None
        dcgan_init(self)

    def features(self, x: Tensor) -> Tensor:
        for conv, norm in zip(self.convs, self.norms, strict=True):
            x = nn.functional.leaky_relu(norm(conv(x)), 0.2)
        return x.flatten(1)

    def forward(self, x: Tensor, labels: Tensor | None = None) -> Tensor | tuple[Tensor, Tensor]:
        h = self.features(x)
        return critic_output(h, self.head, self.projection, self.classifier, labels)


def _info(env: BuildEnv) -> DataInfo:
    if env.data is None or not env.data.is_image:
        raise ValueError("DCGAN networks need image data")
    return env.data


def build_generator(params: DCGANGeneratorParams, env: BuildEnv) -> DCGANGenerator:
    return DCGANGenerator(params, _info(env))


def build_critic(params: DCGANCriticParams, env: BuildEnv) -> DCGANCritic:
    return DCGANCritic(params, _info(env))
