"""The metric 'plugin-template': its value on known samples, validation."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from conftest import DIST
from gankit.errors import SpecError
from gankit.plugins import Registry
from gankit.protocols import BuildEnv, DataInfo, EvalContext
from gankit.spec import validate_spec

NAME = f"{DIST}:plugin-template"


def context(fake: torch.Tensor, real: torch.Tensor) -> EvalContext:
    return EvalContext(
        info=DataInfo(shape=tuple(fake.shape[1:])), device=torch.device("cpu"),
        sample_fake=lambda n: (fake[:n], None), sample_real=lambda n, split: (real[:n], None),
        cache_dir=Path("."),
    )


def build(registry: Registry, **params: int):
    component = registry.lookup("metric", NAME)
    return component.build(component.params_model(**params), BuildEnv(data=DataInfo(shape=(2,))))


def test_registered_with_documented_params(registry: Registry) -> None:
    component = registry.lookup("metric", NAME)
    assert all(f.description for f in component.params_model.model_fields.values())


def test_value_matches_the_formula(registry: Registry) -> None:
    fake = torch.tensor([[1.0, 2.0], [3.0, 2.0]])
    real = torch.tensor([[0.0, 0.0], [0.0, 1.0]])
    # means (2, 2) and (0, 0.5): distance sqrt(4 + 2.25) = 2.5
    assert build(registry, n_samples=2)(context(fake, real)) == {"plugin-template": pytest.approx(2.5)}
    assert build(registry, n_samples=2)(context(real, real)) == {"plugin-template": pytest.approx(0.0)}


def test_invalid_params_are_spec_errors(registry: Registry, spec_data) -> None:
    with pytest.raises(SpecError) as info:
        validate_spec(spec_data(metrics=[{"name": NAME, "params": {"n_samples": 0}}]), registry=registry)
    assert "greater than 0" in dict(info.value.problems)["metrics.0.params.n_samples"]
