"""Point masses p = δ(α), q = δ(β) (THEORY.md §1): optimise the critic, read the divergence off the optimal
critic loss, and compare with the closed forms — constant for SGAN/JS, ∝ d for WGAN(-GP) and GAN-QP."""

from __future__ import annotations

import pytest
import torch
from helpers import divergence, inputs
from torch import nn


class TableCritic(nn.Module):
    """A free critic: one learnable score for α and one for β (the sup over all functions)."""

    kind = "score"

    def __init__(self, alpha: torch.Tensor) -> None:
        super().__init__()
        self.alpha = alpha
        self.t = nn.Parameter(torch.zeros(2, dtype=torch.float64))

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        is_alpha = (x == self.alpha).all(dim=1)
        return torch.where(is_alpha, self.t[0], self.t[1])


class SmoothCritic(nn.Module):
    """A small MLP on the points: smooth in x, so the generator gradient ∂/∂β exists."""

    kind = "score"

    def __init__(self, dim: int) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.net = nn.Sequential(nn.Linear(dim, 64), nn.Tanh(), nn.Linear(64, 64), nn.Tanh(), nn.Linear(64, 1)).double()

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(x).squeeze(1)


def optimise(div, critic: nn.Module, alpha: torch.Tensor, beta: torch.Tensor, steps: int, lr: float) -> float:
    real, fake = alpha.expand(8, -1).clone(), beta.expand(8, -1).clone()
    opt = torch.optim.Adam(critic.parameters(), lr=lr)
    for _ in range(steps):
        loss = div.critic_loss(inputs(critic, real, fake))
        opt.zero_grad()
        loss.backward()
        opt.step()
    return -div.critic_loss(inputs(critic, real, fake)).item()


def points(d: float, dim: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    alpha = torch.zeros(1, dim, dtype=torch.float64)
    return alpha, alpha + d  # L1 (mean |diff|) and L2 (root mean square) distance both equal d


@pytest.mark.parametrize("distance", ["l1", "l2"])
@pytest.mark.parametrize("d", [0.5, 1.0, 2.0])
def test_gan_qp_value_is_lambda_d_over_two(d, distance):
    alpha, beta = points(d)
    div = divergence("gan-qp", lam=10.0, distance=distance)
    value = optimise(div, TableCritic(alpha), alpha, beta, steps=3000, lr=0.1)
    assert value == pytest.approx(10.0 * d / 2, rel=0.02)


def test_sgan_value_is_constant_and_generator_gradient_vanishes():
    values, grads = [], []
    for d in (0.5, 1.0, 2.0):
        alpha, beta = points(d, dim=1)
        critic = SmoothCritic(1)
        div = divergence("sgan")
        # max of E_p log σ(T) + E_q log(1 − σ(T)) is 0 for disjoint supports (= −log 4 + 2 JS with JS = log 2)
        values.append(optimise(div, critic, alpha, beta, steps=1500, lr=0.01))
        fake = beta.expand(8, -1).clone().requires_grad_(True)
        loss = div.generator_loss(inputs(critic, alpha.expand(8, -1), fake, step="generator"))
        (grad,) = torch.autograd.grad(loss, fake)
        grads.append(grad.abs().max().item())
    assert max(values) - min(values) < 0.02 and all(abs(v) < 0.02 for v in values)
    assert max(grads) < 1e-3


@pytest.mark.parametrize("name", ["wgan-gp"])
def test_wasserstein_value_is_proportional_to_d(name):
    values = {}
    for d in (0.5, 1.0, 2.0):
        alpha, beta = points(d, dim=1)
        values[d] = optimise(divergence(name, lam=10.0), SmoothCritic(1), alpha, beta, steps=1500, lr=0.01)
    # a linear critic of slope 1 is optimal: W1 = d (minus a small penalty share)
    for d, v in values.items():
        assert v == pytest.approx(d, rel=0.1)
    assert values[2.0] / values[0.5] == pytest.approx(4.0, rel=0.1)


def test_gan_qp_optimal_binary_critic_respects_lambda_d():
    """Random discrete p, q on n points: maximise the QP objective over a free binary critic and compare
    Δ* with the closed form λ d (pq − qp)/(pq + qp); hence |Δ*| ≤ λ d."""
    gen = torch.Generator().manual_seed(3)
    n, lam = 6, 2.5
    xs = torch.randn(n, 4, generator=gen, dtype=torch.float64)
    p = torch.rand(n, generator=gen, dtype=torch.float64)
    q = torch.rand(n, generator=gen, dtype=torch.float64)
    p, q = p / p.sum(), q / q.sum()
    d = (xs[:, None] - xs[None]).abs().mean(-1) + torch.eye(n, dtype=torch.float64)  # diagonal unused
    weight = p[:, None] * q[None, :]  # P(x_r = i, x_f = j)
    t = torch.zeros(n, n, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([t], max_iter=500, tolerance_grad=1e-12, tolerance_change=1e-14, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        delta = t - t.T
        loss = -(weight * (delta - delta.square() / (2 * lam * d))).sum()
        loss.backward()
        return loss

    opt.step(closure)
    delta = (t - t.T).detach()
    off = ~torch.eye(n, dtype=torch.bool)
    expected = lam * d * (weight - weight.T) / (weight + weight.T)
    assert torch.allclose(delta[off], expected[off], atol=1e-6)
    assert (delta[off].abs() <= lam * d[off] + 1e-9).all()
