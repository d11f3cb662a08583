"""Fully connected generator and critic, for 2-D points and flattened images."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.nn.utils.parametrizations import spectral_norm

from gankit.networks import MLPCriticParams, MLPGeneratorParams
from gankit.protocols import BuildEnv, DataInfo

_ACTIVATIONS = {
    "relu": lambda: nn.ReLU(),
    "leaky_relu": lambda: nn.LeakyReLU(0.2),
    "elu": lambda: nn.ELU(),
    "tanh": lambda: nn.Tanh(),
}


class MLPGenerator(nn.Module):
    def __init__(self, params: MLPGeneratorParams, info: DataInfo) -> None:
        super().__init__()
        self.latent_dim = params.latent_dim
        self.out_shape = info.shape
        layers: list[nn.Module] = []
        width = params.latent_dim
        for _ in range(params.depth):
            layers += [nn.Linear(width, params.hidden)]
            if params.batch_norm:
                layers += [nn.BatchNorm1d(params.hidden)]
            layers += [_ACTIVATIONS[params.activation]()]
            width = params.hidden
        layers += [nn.Linear(width, math.prod(info.shape))]
        output = params.output if params.output != "auto" else ("tanh" if info.is_image else "linear")
        if output == "tanh":
            layers += [nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, z: Tensor, labels: Tensor | None = None) -> Tensor:
        return self.net(z).view(z.shape[0], *self.out_shape)


class MLPCritic(nn.Module):
    kind = "score"

    def __init__(self, params: MLPCriticParams, info: DataInfo) -> None:
        super().__init__()
        wrap = spectral_norm if params.spectral_norm else (lambda m: m)
        layers: list[nn.Module] = []
        width = math.prod(info.shape)
        for _ in range(params.depth):
            layers += [wrap(nn.Linear(width, params.hidden))]
            if params.norm == "layer":
                layers += [nn.LayerNorm(params.hidden)]
            layers += [_ACTIVATIONS[params.activation]()]
            width = params.hidden
        layers += [wrap(nn.Linear(width, 1))]
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor, labels: Tensor | None = None) -> Tensor:
        return self.net(torch.flatten(x, 1)).squeeze(1)


def _info(env: BuildEnv) -> DataInfo:
    assert env.data is not None
    return env.data


def build_generator(params: MLPGeneratorParams, env: BuildEnv) -> MLPGenerator:
    return MLPGenerator(params, _info(env))


def build_critic(params: MLPCriticParams, env: BuildEnv) -> MLPCritic:
    return MLPCritic(params, _info(env))
