"""The divergence 'plugin-template': golden values, finite losses and gradients, validation."""

from __future__ import annotations

import pytest
import torch
from conftest import DIST
from gankit.errors import SpecError
from gankit.plugins import Registry
from gankit.protocols import BuildEnv, DataInfo, LossInputs
from gankit.spec import validate_spec
from torch import nn


class FirstColumn(nn.Module):
    """T(x) = x[:, 0]: lets a test choose the critic's scores exactly."""

    kind = "score"

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return x[:, 0]


class SmallCritic(nn.Module):
    kind = "score"

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(2, 16), nn.LeakyReLU(0.2), nn.Linear(16, 1))

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(x).squeeze(1)


def build(registry: Registry, **params: float):
    component = registry.lookup("divergence", f"{DIST}:plugin-template")
    return component.build(component.params_model(**params), BuildEnv(data=DataInfo(shape=(2,))))


def batch(scores: list[float]) -> torch.Tensor:
    return torch.tensor([[s, 0.0] for s in scores], dtype=torch.float64)


def test_registered_with_documented_params(registry: Registry) -> None:
    component = registry.lookup("divergence", f"{DIST}:plugin-template")
    fields = component.params_model.model_fields
    assert fields and all(f.description for f in fields.values())
    component.params_model()  # the defaults are valid


def test_losses_match_the_formula(registry: Registry) -> None:
    real, fake, m = [1.5, 0.2, -0.4], [-2.0, 0.3, 1.0], 0.5
    b = LossInputs(step="critic", critic=FirstColumn(), real=batch(real), fake=batch(fake))
    div = build(registry, margin=m)
    expected = sum(max(0.0, m - r) for r in real) / 3 + sum(max(0.0, m + f) for f in fake) / 3
    assert div.critic_loss(b).item() == pytest.approx(expected)
    assert div.generator_loss(b).item() == pytest.approx(-sum(fake) / 3)


def test_finite_losses_and_generator_gradients(registry: Registry) -> None:
    torch.manual_seed(0)
    div, critic = build(registry), SmallCritic()
    real, fake = torch.randn(32, 2), (torch.randn(32, 2) * 0.5 + 1).requires_grad_(True)
    loss_critic = div.critic_loss(LossInputs(step="critic", critic=critic, real=real, fake=fake.detach()))
    loss_critic.backward()
    assert torch.isfinite(loss_critic)
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in critic.parameters())
    b = LossInputs(step="generator", critic=critic, real=real if div.generator_uses_real else None, fake=fake)
    loss_generator = div.generator_loss(b)
    (grad,) = torch.autograd.grad(loss_generator, fake)
    assert torch.isfinite(loss_generator) and torch.isfinite(grad).all() and grad.abs().sum() > 0


def test_invalid_params_are_spec_errors(registry: Registry, spec_data) -> None:
    with pytest.raises(SpecError) as info:
        validate_spec(spec_data(divergence={"name": f"{DIST}:plugin-template", "params": {"margin": 0}}),
                      registry=registry)
    assert "greater than 0" in dict(info.value.problems)["divergence.params.margin"]
