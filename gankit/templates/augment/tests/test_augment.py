"""The augmentation 'plugin-template': same shape, differentiable, its own seeded stream, resumable."""

from __future__ import annotations

import pytest
import torch
from conftest import DIST
from gankit.plugins import Registry
from gankit.protocols import BuildEnv, DataInfo, RunContext

NAME = f"{DIST}:plugin-template"


def build(registry: Registry, seed: int = 0, **params: float):
    component = registry.lookup("augment", NAME)
    augment = component.build(component.params_model(**params), BuildEnv(data=DataInfo(shape=(1, 8, 8))))
    augment.bind(RunContext(device=torch.device("cpu"), seed=seed))
    return augment


def test_registered_with_documented_params(registry: Registry) -> None:
    component = registry.lookup("augment", NAME)
    assert all(f.description for f in component.params_model.model_fields.values())


def test_same_shape_and_differentiable(registry: Registry) -> None:
    x = torch.randn(4, 1, 8, 8, requires_grad=True)
    y = build(registry, std=0.1)(x)
    assert y.shape == x.shape and not torch.equal(y, x)
    (grad,) = torch.autograd.grad(y.sum(), x)
    assert torch.allclose(grad, torch.ones_like(x))


def test_its_own_seeded_stream_and_exact_resume(registry: Registry) -> None:
    x = torch.zeros(2, 1, 8, 8)
    a, b = build(registry, seed=1), build(registry, seed=1)
    assert torch.equal(a(x), b(x))
    state = a.state_dict()
    expected = a(x)
    c = build(registry, seed=2)
    c.load_state_dict(state)
    assert torch.equal(c(x), expected)
    before = torch.random.get_rng_state()
    a(x)
    assert torch.equal(torch.random.get_rng_state(), before)  # the training RNG is untouched


@pytest.mark.parametrize("std", [-1.0])
def test_invalid_params_are_rejected(registry: Registry, std: float) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        registry.lookup("augment", NAME).params_model(std=std)
