"""The critic 'plugin-template': one score per sample and gradients, declarations, validation."""

from __future__ import annotations

import pytest
import torch
from conftest import DIST
from gankit.errors import SpecError
from gankit.plugins import Registry
from gankit.protocols import BuildEnv, DataInfo, critic_kind
from gankit.spec import validate_spec
from torch import nn

NAME = f"{DIST}:plugin-template"


def build(registry: Registry, shape: tuple[int, ...], **params: int) -> nn.Module:
    component = registry.lookup("critic", NAME)
    return component.build(component.params_model(**params), BuildEnv(data=DataInfo(shape=shape)))


def test_registered_with_documented_params(registry: Registry) -> None:
    component = registry.lookup("critic", NAME)
    assert all(f.description for f in component.params_model.model_fields.values())


@pytest.mark.parametrize("shape", [(2,), (1, 8, 8)])
def test_one_score_per_sample_and_gradients_flow(registry: Registry, shape: tuple[int, ...]) -> None:
    torch.manual_seed(0)
    net = build(registry, shape, hidden=16)
    # the built critic is the kind its params declare (the build checks this too)
    assert critic_kind(net) == registry.lookup("critic", NAME).params_model.critic_kind
    x = torch.randn(5, *shape, requires_grad=True)
    scores = net(x)
    assert scores.shape == (5,) and torch.isfinite(scores).all()
    (grad,) = torch.autograd.grad(scores.sum(), x)
    assert torch.isfinite(grad).all() and grad.abs().sum() > 0


def test_invalid_params_are_spec_errors(registry: Registry, spec_data) -> None:
    with pytest.raises(SpecError) as info:
        validate_spec(spec_data(critic={"name": NAME, "params": {"hidden": 0}}), registry=registry)
    assert "greater than 0" in dict(info.value.problems)["critic.params.hidden"]
