"""The power-k QP divergence: golden values, k = 2 is GAN-QP, its point-mass closed form, registration,
validation messages and a short training run."""

from __future__ import annotations

import json
import math
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

import pytest
import torch
from gankit.errors import SpecError
from gankit.plugins import Registry
from gankit.protocols import BuildEnv, DataInfo, LossInputs
from gankit.spec import load_spec, validate_spec
from torch import nn

SPEC = Path(__file__).resolve().parents[1] / "specs" / "qp-power-ring.toml"
DIST = "gankit-qp-power"
ENV = BuildEnv(data=DataInfo(shape=(3,)))


def build(registry: Registry, name: str, **params):
    component = registry.lookup("divergence", name)
    return component.build(component.params_model(**params), ENV)


class FirstColumn(nn.Module):
    """T(x) = x[:, 0]: lets a test choose the scores exactly."""

    kind = "score"

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return x[:, 0]


REAL = [[1.0, 0.0, 2.0], [0.0, 3.0, -1.0], [0.4, 0.4, 0.4]]
FAKE = [[0.5, 1.0, 0.0], [2.0, -1.0, 1.0], [-0.2, 0.6, 0.1]]


def inputs(critic: nn.Module, real: torch.Tensor, fake: torch.Tensor) -> LossInputs:
    return LossInputs(step="critic", critic=critic, real=real, fake=fake)


def test_registered_with_documented_params(registry: Registry) -> None:
    component = registry.lookup("divergence", "qp-power")
    assert component.dist == DIST
    fields = component.params_model.model_fields
    assert set(fields) == {"power", "lam", "distance", "eps"}
    assert all(f.description for f in fields.values())
    assert component.params_model().power == 4


@pytest.mark.parametrize("distance", ["l1", "l2"])
@pytest.mark.parametrize("power", [2, 4, 6])
def test_losses_match_the_formula(registry: Registry, power: int, distance: str) -> None:
    lam, eps = 3.0, 1e-8
    div = build(registry, "qp-power", power=power, lam=lam, distance=distance)
    real, fake = torch.tensor(REAL, dtype=torch.float64), torch.tensor(FAKE, dtype=torch.float64)
    expected_critic, deltas = 0.0, []
    for r, f in zip(REAL, FAKE, strict=True):
        diffs = [a - b for a, b in zip(r, f, strict=True)]
        if distance == "l1":
            d = sum(abs(x) for x in diffs) / len(diffs)
        else:
            d = math.sqrt(sum(x * x for x in diffs) / len(diffs))
        dl = r[0] - f[0]
        deltas.append(dl)
        expected_critic += -dl + abs(dl) ** power / (power * lam ** (power - 1) * (d + eps) ** (power - 1))
    expected_critic /= len(REAL)
    b = inputs(FirstColumn(), real, fake)
    # gankit computes scores and distances in float32
    assert div.critic_loss(b).item() == pytest.approx(expected_critic, rel=1e-6)
    assert div.generator_loss(b).item() == pytest.approx(sum(deltas) / len(deltas), rel=1e-6)


class MLP(nn.Module):
    kind = "score"

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(3, 16), nn.Tanh(), nn.Linear(16, 1))

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(x).squeeze(1)


def test_power_two_is_gan_qp(registry: Registry) -> None:
    torch.manual_seed(0)
    critic = MLP()
    real, fake = torch.randn(32, 3), torch.randn(32, 3) + 0.5
    for distance in ("l1", "l2"):
        ours = build(registry, "qp-power", power=2, lam=7.0, distance=distance)
        ganqp = build(registry, "gan-qp", lam=7.0, distance=distance)
        for step in ("critic_loss", "generator_loss"):
            a = getattr(ours, step)(inputs(critic, real, fake))
            b = getattr(ganqp, step)(inputs(critic, real, fake))
            assert torch.allclose(a, b, rtol=1e-6, atol=1e-7), (distance, step)


class TableCritic(nn.Module):
    """A free critic on two points: one learnable score for α, one for β."""

    kind = "score"

    def __init__(self, alpha: torch.Tensor) -> None:
        super().__init__()
        self.alpha = alpha
        self.t = nn.Parameter(torch.zeros(2, dtype=torch.float64))

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return torch.where((x == self.alpha).all(dim=1), self.t[0], self.t[1])


@pytest.mark.parametrize("power", [2, 4, 6])
@pytest.mark.parametrize("d", [0.5, 2.0])
def test_point_masses_give_lambda_d_times_one_minus_one_over_k(registry: Registry, power: int, d: float) -> None:
    """Maximising z − z^k/(k (λd)^(k−1)) gives z* = λd and the value λd(1 − 1/k) (k = 2: GAN-QP's λd/2)."""
    lam = 10.0
    alpha = torch.zeros(1, 3, dtype=torch.float64)
    real, fake = alpha.expand(4, -1), (alpha + d).expand(4, -1)  # l1 and l2 distances both equal d
    div = build(registry, "qp-power", power=power, lam=lam)
    critic = TableCritic(alpha)
    opt = torch.optim.LBFGS(critic.parameters(), max_iter=200, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = div.critic_loss(inputs(critic, real, fake))
        loss.backward()
        return loss

    for _ in range(5):
        opt.step(closure)
    value = -div.critic_loss(inputs(critic, real, fake)).item()
    assert value == pytest.approx(lam * d * (1 - 1 / power), rel=0.02)
    assert (critic.t[0] - critic.t[1]).item() == pytest.approx(lam * d, rel=0.02)


def test_odd_power_and_wrong_critic_are_spec_errors(registry: Registry) -> None:
    data = {
        "data": {"name": "ring"},
        "generator": {"name": "mlp"},
        "critic": {"name": "mlp"},
        "divergence": {"name": "qp-power", "params": {"power": 3}},
    }
    with pytest.raises(SpecError) as info:
        validate_spec(data)
    assert "must be even" in dict(info.value.problems)["divergence.params.power"]
    if any(c.name == "autoencoder" for c in registry.of_kind("critic")):
        data["divergence"]["params"] = {}
        data["critic"] = {"name": "autoencoder"}
        with pytest.raises(SpecError) as info:
            validate_spec(data)
        assert "needs a critic of kind score or pair" in dict(info.value.problems)["critic.name"]


def test_example_spec_trains_without_nan(registry: Registry, tmp_path: Path) -> None:
    from gankit.engine.trainer import Trainer, TrainOptions

    overrides = ["run.steps=30", "run.log_every=10", "run.sample_every=30", "run.checkpoint_every=30",
                 "run.device=cpu", "data.params.n_samples=1000", "metrics.0.params.n_samples=200"]
    try:
        distribution(DIST)
    except PackageNotFoundError:  # run.requires names this distribution; a checkout that is not installed
        overrides.append("run.requires=[]")
    spec = load_spec(SPEC, overrides)
    assert spec.divergence.component.dist == DIST
    result = Trainer(spec, TrainOptions(out_dir=tmp_path / "run", progress=False)).fit()
    assert result.step == 30
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    losses = [r[k] for r in rows if "loss_critic" in r for k in ("loss_critic", "loss_generator", "qp_potential")]
    assert len(losses) == 9 and all(math.isfinite(v) for v in losses)
