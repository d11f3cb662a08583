"""Point masses p = δ(α), q = δ(β) (THEORY.md §1): optimise a critic, read the divergence off the optimal
critic loss (value = −min critic loss) and its generator gradient off ∂value/∂β (envelope theorem), and compare
both with closed forms for several distances d = d(α, β).

* SGAN, JS and every saturating loss: a constant value and a vanishing gradient — nothing to learn from.
* WGAN (clipping c): c·d. WGAN-GP: d + d²/(4λ) (slope 1 + d/(2λ) is optimal on the segment). WGAN-div:
  (1 − 1/p)·d^(p/(p−1))·(kp)^(−1/(p−1)). All grow with d, so the generator is pulled towards α.
* GAN-QP: λd/2 with slope λ/2, without any Lipschitz constraint; the power-k package: λd(1 − 1/k).

The critics are affine, T(x) = w·(x − centre)/scale + c: on two points an affine critic attains the supremum
over all functions (and for the gradient penalties the optimum over the segment is affine). For the saturating
losses the coordinates are normalised by d so the optimiser's progress does not depend on d.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
import torch
from divergence_helpers import divergence, inputs
from torch import nn

from gankit.plugins import get_registry


class Affine(nn.Module):
    kind = "score"

    def __init__(self, dim: int, centre: torch.Tensor, scale: float) -> None:
        super().__init__()
        self.centre, self.scale = centre, scale
        self.w = nn.Parameter(torch.zeros(dim, dtype=torch.float64))
        self.c = nn.Parameter(torch.zeros((), dtype=torch.float64))

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return (x - self.centre) / self.scale @ self.w + self.c


class PairAffine(nn.Module):
    """A binary critic T(x, y) = w₁·x + w₂·y + c (GAN-QP's general form)."""

    kind = "pair"

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.zeros(2, dim, dtype=torch.float64))
        self.c = nn.Parameter(torch.zeros((), dtype=torch.float64))

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return x @ self.w[0] + y @ self.w[1] + self.c


class Energy(Affine):
    """An autoencoder-kind critic for EBGAN: a non-negative energy per sample."""

    kind = "autoencoder"

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return nn.functional.softplus(super().forward(x, labels))


@dataclass
class Case:
    name: str
    params: dict[str, Any]
    value: Callable[[float], float]  # the divergence between the two point masses
    slope: Callable[[float], float]  # d value / d d, = Σ|∂value/∂β| for the points used here
    critic: str = "affine"  # affine | normalised | pair | energy
    dim: int = 1
    optimiser: str = "lbfgs"  # lbfgs (bounded, smooth problems) | rprop (sup at infinity, or clipping)
    extra: dict[str, Any] = field(default_factory=dict)


def constant(c: float) -> Callable[[float], float]:
    return lambda d: c


LAM, K, P, CLIP = 10.0, 2.0, 6.0, 0.01


def wgan_div_value(d: float) -> float:
    return (1 - 1 / P) * d ** (P / (P - 1)) * (K * P) ** (-1 / (P - 1))


SATURATING = [
    Case("sgan", {}, constant(0.0), constant(0.0), "normalised", optimiser="rprop"),  # −log 4 + 2·JS, JS = log 2
    Case("sgan-ns", {}, constant(0.0), constant(0.0), "normalised", optimiser="rprop"),
    Case("lsgan", {}, constant(0.0), constant(0.0), "normalised", optimiser="rprop"),
    Case("hinge", {}, constant(0.0), constant(0.0), "normalised", optimiser="rprop"),
    Case("rsgan", {}, constant(0.0), constant(0.0), "normalised", optimiser="rprop"),
    Case("rasgan", {}, constant(0.0), constant(0.0), "normalised", optimiser="rprop"),
    # f-divergences of disjoint supports: f(0) + f'(∞)
    Case("f-gan", {"divergence": "js"}, constant(math.log(4)), constant(0.0), "normalised", optimiser="rprop"),
    Case("f-gan", {"divergence": "gan"}, constant(0.0), constant(0.0), "normalised", optimiser="rprop"),
    Case("f-gan", {"divergence": "tv"}, constant(1.0), constant(0.0), "normalised", optimiser="rprop"),
    Case("f-gan", {"divergence": "hellinger"}, constant(2.0), constant(0.0), "normalised", optimiser="rprop"),
    Case("ebgan", {"margin": 1.0}, constant(0.0), constant(0.0), "energy", optimiser="rprop"),
]

USEFUL = [
    Case("wgan", {"clip": CLIP}, lambda d: CLIP * d, constant(CLIP), optimiser="rprop"),
    Case("wgan-gp", {"lam": LAM}, lambda d: d + d * d / (4 * LAM), lambda d: 1 + d / (2 * LAM)),
    Case("wgan-div", {"k": K, "p": P}, wgan_div_value, lambda d: (d / (K * P)) ** (1 / (P - 1))),
    Case("gan-qp", {"lam": LAM, "distance": "l1"}, lambda d: LAM * d / 2, constant(LAM / 2), dim=3),
    Case("gan-qp", {"lam": LAM, "distance": "l2"}, lambda d: LAM * d / 2, constant(LAM / 2), dim=3),
    Case("gan-qp", {"lam": LAM, "distance": "l2"}, lambda d: LAM * d / 2, constant(LAM / 2), "pair", dim=3),
    Case("qp-power", {"lam": LAM, "power": 4}, lambda d: LAM * d * 3 / 4, constant(LAM * 3 / 4), dim=3),
]


def case_id(case: Case) -> str:
    return "-".join([case.name, *(str(v) for v in case.params.values()), case.critic])


def make_critic(case: Case, alpha: torch.Tensor, d: float) -> nn.Module:
    if case.critic == "pair":
        return PairAffine(case.dim)
    if case.critic == "energy":
        return Energy(case.dim, alpha + d / 2, d)
    if case.critic == "normalised":
        return Affine(case.dim, alpha + d / 2, d)
    return Affine(case.dim, torch.zeros_like(alpha), 1.0)


def solve(case: Case, d: float) -> tuple[float, float]:
    """Optimise the critic on δ(α), δ(β) with β = α + d·1 (L1 and L2 distances both equal d);
    return (value, Σ|∂value/∂β|)."""
    torch.manual_seed(0)
    div = divergence(case.name, **case.params)
    alpha = torch.zeros(1, case.dim, dtype=torch.float64)
    real, fake = alpha.expand(4, -1), (alpha + d).expand(4, -1)
    critic = make_critic(case, alpha, d)

    def loss() -> torch.Tensor:
        return div.critic_loss(inputs(critic, real, fake))

    if case.optimiser == "lbfgs":
        opt = torch.optim.LBFGS(critic.parameters(), max_iter=100, tolerance_grad=1e-12, tolerance_change=1e-15,
                                line_search_fn="strong_wolfe")

        def closure() -> torch.Tensor:
            opt.zero_grad()
            value = loss()
            value.backward()
            return value

        for _ in range(3):
            opt.step(closure)
    else:  # sup at infinity (saturating losses), or clipping: sign-based steps that grow while the sign holds
        rprop = torch.optim.Rprop(critic.parameters(), lr=1e-3 if case.name == "wgan" else 0.1)
        for _ in range(200):
            rprop.zero_grad()
            loss().backward()
            rprop.step()
            if hasattr(div, "clip_critic"):
                div.clip_critic(critic)
    beta = fake.clone().requires_grad_(True)
    value = -div.critic_loss(inputs(critic, real, beta))
    (grad,) = torch.autograd.grad(value, beta)
    return value.item(), grad.abs().sum().item()


DISTANCES = (0.5, 1.0, 2.0)


@pytest.mark.parametrize("case", SATURATING, ids=case_id)
def test_saturating_divergences_are_constant_with_vanishing_gradients(case: Case) -> None:
    for d in DISTANCES:
        value, slope = solve(case, d)
        assert value == pytest.approx(case.value(d), abs=1e-3), f"d = {d}"
        assert slope < 1e-3, f"d = {d}: the generator still gets a gradient {slope}"


@pytest.mark.parametrize("case", USEFUL, ids=case_id)
def test_wasserstein_and_qp_values_grow_with_distance(case: Case) -> None:
    if case.name not in {c.name for c in get_registry().of_kind("divergence")}:
        pytest.skip(f"{case.name} is not installed (pip install -e plugins/gankit-qp-power)")
    for d in DISTANCES:
        value, slope = solve(case, d)
        assert value == pytest.approx(case.value(d), rel=0.02), f"d = {d}"
        assert slope == pytest.approx(case.slope(d), rel=0.02), f"d = {d}"


def test_minimax_generator_gradient_vanishes_where_non_saturating_does_not() -> None:
    """The reason ``sgan-ns`` exists: against a confident critic the minimax generator loss is flat."""
    alpha = torch.zeros(1, 1, dtype=torch.float64)
    critic = Affine(1, alpha + 0.5, 1.0)
    with torch.no_grad():
        critic.w.fill_(-20.0)  # T(α) = 10, T(β) = −10: the critic is sure
    fake = (alpha + 1.0).expand(4, -1).clone().requires_grad_(True)
    grads = {}
    for name in ("sgan", "sgan-ns"):
        loss = divergence(name).generator_loss(inputs(critic, alpha.expand(4, -1), fake, step="generator"))
        (grad,) = torch.autograd.grad(loss, fake)
        grads[name] = grad.abs().sum().item()
    assert grads["sgan"] < 1e-3 < 1.0 < grads["sgan-ns"]


# ------------------------------------------------------------------- GAN-QP on random discrete p and q
class PairTable(nn.Module):
    """A free binary critic on n support points: T(x_i, x_j) = t[i, j]."""

    kind = "pair"

    def __init__(self, points: torch.Tensor) -> None:
        super().__init__()
        self.points = points
        self.t = nn.Parameter(torch.zeros(len(points), len(points), dtype=torch.float64))

    def index(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cdist(x, self.points).argmin(dim=1)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.t[self.index(x), self.index(y)]


class UnaryTable(PairTable):
    """A free unary critic on n support points: T(x_i) = t[i]."""

    kind = "score"

    def __init__(self, points: torch.Tensor) -> None:
        super().__init__(points)
        self.t = nn.Parameter(torch.zeros(len(points), dtype=torch.float64))

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.t[self.index(x)]


def discrete(seed: int, n: int = 5) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Points, probabilities p and q as counts/12, and the batches of all (real slot, fake slot) pairs: their
    uniform mean is exactly E over p × q, so the divergence's own batch mean computes the expectation."""
    gen = torch.Generator().manual_seed(seed)
    points = torch.randn(n, 3, generator=gen, dtype=torch.float64)
    slots = 12
    counts = []
    for _ in range(2):
        cuts = torch.sort(torch.randperm(slots - 1, generator=gen)[: n - 1] + 1).values.tolist()
        counts.append(torch.tensor([b - a for a, b in zip([0, *cuts], [*cuts, slots], strict=True)]))
    p_slots = torch.repeat_interleave(torch.arange(n), counts[0])
    q_slots = torch.repeat_interleave(torch.arange(n), counts[1])
    real = points[p_slots].repeat_interleave(slots, dim=0)
    fake = points[q_slots].repeat(slots, 1)
    return points, counts[0].double() / slots, counts[1].double() / slots, real, fake


def maximise(div: Any, critic: nn.Module, real: torch.Tensor, fake: torch.Tensor) -> float:
    opt = torch.optim.LBFGS(critic.parameters(), max_iter=200, tolerance_grad=1e-10, tolerance_change=1e-14,
                            line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = div.critic_loss(inputs(critic, real, fake))
        loss.backward()
        return loss

    for _ in range(3):
        opt.step(closure)
    return -div.critic_loss(inputs(critic, real, fake)).item()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_gan_qp_optimal_critic_on_random_discrete_distributions(seed: int) -> None:
    """Binary critic: Δ*(x, y) = λd(p(x)q(y) − p(y)q(x)) / (p(x)q(y) + p(y)q(x)), hence |Δ*| ≤ λd (THEORY §2).
    Unary critic: the optimum solves a graph-Laplacian system; its value cannot exceed the binary one."""
    lam = 2.5
    points, p, q, real, fake = discrete(seed)
    div = divergence("gan-qp", lam=lam, distance="l1")
    pair = PairTable(points)
    binary_value = maximise(div, pair, real, fake)
    d = (points[:, None] - points[None]).abs().mean(-1)
    w = p[:, None] * q[None, :]
    off = ~torch.eye(len(points), dtype=torch.bool)
    delta = (pair.t - pair.t.T).detach()
    expected = lam * d * (w - w.T) / (w + w.T)
    # scores and distances are float32 inside gankit: the optimum is pinned to about 1e-4
    assert torch.allclose(delta[off], expected[off], rtol=1e-3, atol=1e-3)
    assert (delta[off].abs() <= lam * d[off] * (1 + 1e-3)).all()
    d_safe = d + torch.eye(len(d))  # the diagonal has Δ = 0: any d > 0 there
    assert binary_value == pytest.approx(float((w * (expected - expected**2 / (2 * lam * d_safe))).sum()), rel=1e-3)

    unary = UnaryTable(points)
    unary_value = maximise(div, unary, real, fake)
    # maximise Σ w_ij (t_i − t_j) − Σ w_ij (t_i − t_j)² / (2λ d_ij): b·t − ½ tᵀ L t with L a graph Laplacian
    a = torch.where(off, w / (lam * torch.where(off, d, 1.0)), 0.0)
    laplacian = torch.diag((a + a.T).sum(1)) - (a + a.T)
    t = torch.linalg.lstsq(laplacian, w.sum(1) - w.sum(0)).solution
    found = unary.t.detach()
    assert torch.allclose(found - found.mean(), t - t.mean(), rtol=1e-3, atol=1e-3)
    assert unary_value <= binary_value + 1e-6
