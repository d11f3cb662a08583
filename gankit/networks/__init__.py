"""Built-in generators and critics (a gankit plugin registered through the ``gankit`` entry-point group).

Params models live here, torch-free; the networks live in the submodules and are imported only on build.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from gankit.hookspecs import hookimpl
from gankit.params import Params


class MLPGeneratorParams(Params):
    """A fully connected generator (the VEEGAN/PacGAN 2-D protocol uses 4×400 ReLU and a 2-d latent)."""

    latent_dim: int = Field(2, gt=0, description="Dimension of z ~ N(0, I).")
    hidden: int = Field(400, gt=0, description="Width of each hidden layer.")
    depth: int = Field(4, ge=1, description="Number of hidden layers.")
    activation: Literal["relu", "leaky_relu", "elu", "tanh"] = Field("relu", description="Hidden activation.")
    batch_norm: bool = Field(False, description="Batch norm after each hidden layer.")
    output: Literal["auto", "linear", "tanh"] = Field(
        "auto", description="Output activation; auto: tanh for images, linear for points."
    )


class MLPCriticParams(Params):
    """A fully connected critic; ``spectral_norm`` bounds each layer's Lipschitz constant."""

    hidden: int = Field(400, gt=0, description="Width of each hidden layer.")
    depth: int = Field(4, ge=1, description="Number of hidden layers.")
    activation: Literal["relu", "leaky_relu", "elu", "tanh"] = Field("leaky_relu", description="Hidden activation.")
    norm: Literal["none", "layer"] = Field("none", description="Normalisation after each hidden layer.")
    spectral_norm: bool = Field(False, description="Spectral normalisation of every linear layer.")


@hookimpl
def register_generators(register) -> None:  # type: ignore[no-untyped-def]
    register("mlp", MLPGeneratorParams, "gankit.networks.mlp:build_generator", "Fully connected generator")


@hookimpl
def register_critics(register) -> None:  # type: ignore[no-untyped-def]
    register("mlp", MLPCriticParams, "gankit.networks.mlp:build_critic", "Fully connected critic")
