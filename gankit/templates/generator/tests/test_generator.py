"""The generator 'plugin-template': output shapes and gradients, validation."""

from __future__ import annotations

import pytest
import torch
from conftest import DIST
from gankit.errors import SpecError
from gankit.plugins import Registry
from gankit.protocols import BuildEnv, DataInfo
from gankit.spec import validate_spec
from torch import nn

NAME = f"{DIST}:plugin-template"


def build(registry: Registry, shape: tuple[int, ...], **params: int) -> nn.Module:
    component = registry.lookup("generator", NAME)
    return component.build(component.params_model(**params), BuildEnv(data=DataInfo(shape=shape)))


def test_registered_with_documented_params(registry: Registry) -> None:
    component = registry.lookup("generator", NAME)
    assert all(f.description for f in component.params_model.model_fields.values())


@pytest.mark.parametrize("shape", [(2,), (1, 8, 8)])
def test_output_has_the_data_shape_and_gradients_flow(registry: Registry, shape: tuple[int, ...]) -> None:
    torch.manual_seed(0)
    net = build(registry, shape, latent_dim=3)
    assert net.latent_dim == 3
    x = net(torch.randn(5, 3))
    assert x.shape == (5, *shape) and torch.isfinite(x).all()
    if len(shape) == 3:  # images live in [-1, 1]
        assert x.abs().max() <= 1
    x.square().mean().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in net.parameters())


def test_invalid_params_are_spec_errors(registry: Registry, spec_data) -> None:
    with pytest.raises(SpecError) as info:
        validate_spec(spec_data(generator={"name": NAME, "params": {"hidden": 0}}), registry=registry)
    assert "greater than 0" in dict(info.value.problems)["generator.params.hidden"]
