"""The data set 'plugin-template': samples follow the params and the seed, validation."""

from __future__ import annotations

import pytest
import torch
from conftest import DIST
from gankit.errors import SpecError
from gankit.plugins import Registry
from gankit.protocols import BuildEnv
from gankit.spec import validate_spec

NAME = f"{DIST}:plugin-template"


def build(registry: Registry, **params: object):
    component = registry.lookup("data", NAME)
    return component.build(component.params_model(**params), BuildEnv(data=None))


def test_registered_with_documented_params(registry: Registry) -> None:
    component = registry.lookup("data", NAME)
    assert all(f.description for f in component.params_model.model_fields.values())


def test_samples_follow_the_params_and_the_seed(registry: Registry) -> None:
    source = build(registry, centre=(1.0, -2.0), std=0.5, n_samples=4000)
    assert source.info.shape == (2,)
    x, y = source.dataset("train").tensors
    assert x.shape == (4000, 2) and (y == -1).all()
    assert torch.allclose(x.mean(0), torch.tensor([1.0, -2.0]), atol=0.05)
    assert torch.allclose(x.std(0), torch.tensor([0.5, 0.5]), atol=0.05)
    assert torch.equal(x, build(registry, centre=(1.0, -2.0), std=0.5, n_samples=4000).dataset().tensors[0])
    assert not torch.equal(x, source.dataset("test").tensors[0])


def test_invalid_params_are_spec_errors(registry: Registry, spec_data) -> None:
    with pytest.raises(SpecError) as info:
        validate_spec(spec_data(data={"name": NAME, "params": {"std": -1}}), registry=registry)
    assert "greater than 0" in dict(info.value.problems)["data.params.std"]
