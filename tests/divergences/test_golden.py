"""Golden values: each loss on fixed scores equals its formula, written out here independently in plain
Python (THEORY.md §2), for the critic and the generator loss."""

from __future__ import annotations

import math

import pytest
import torch
from divergence_helpers import ColumnCritic, divergence, inputs

R = [0.5, -1.0, 2.0, 0.1]  # real scores
F = [-0.3, 0.8, -2.0, 1.5]  # fake scores


def sp(v: float) -> float:
    return math.log1p(math.exp(v))


def mean(xs: list[float]) -> float:
    return sum(xs) / len(xs)


def batch(scores: list[float]) -> torch.Tensor:
    return torch.tensor([[s, 0.0] for s in scores], dtype=torch.float64)


SIG = lambda v: 1 / (1 + math.exp(-v))  # noqa: E731

CASES = {
    "sgan": ({}, mean([sp(-r) for r in R]) + mean([sp(f) for f in F]), -mean([sp(f) for f in F])),
    "sgan-ns": ({}, mean([sp(-r) for r in R]) + mean([sp(f) for f in F]), mean([sp(-f) for f in F])),
    "lsgan": ({"a": -1.0, "b": 1.0, "c": 0.0},
              0.5 * mean([(r - 1) ** 2 for r in R]) + 0.5 * mean([(f + 1) ** 2 for f in F]),
              0.5 * mean([f**2 for f in F])),
    "wgan": ({}, mean(F) - mean(R), -mean(F)),
    "hinge": ({}, mean([max(0, 1 - r) for r in R]) + mean([max(0, 1 + f) for f in F]), -mean(F)),
    "rsgan": ({}, mean([sp(-(r - f)) for r, f in zip(R, F, strict=True)]),
              mean([sp(-(f - r)) for r, f in zip(R, F, strict=True)])),
    "rasgan": ({}, mean([sp(-(r - mean(F))) for r in R]) + mean([sp(f - mean(R)) for f in F]),
               mean([sp(-(f - mean(R))) for f in F]) + mean([sp(r - mean(F)) for r in R])),
}

# f-GAN: g_f and f* exactly as tabulated in THEORY.md (naive forms; the code uses simplified ones)
FGAN = {
    "kl": (lambda v: v, lambda t: math.exp(t - 1)),
    "reverse-kl": (lambda v: -math.exp(-v), lambda t: -1 - math.log(-t)),
    "pearson": (lambda v: v, lambda t: t * t / 4 + t),
    "neyman": (lambda v: 1 - math.exp(v), lambda t: 2 - 2 * math.sqrt(1 - t)),
    "hellinger": (lambda v: 1 - math.exp(-v), lambda t: t / (1 - t)),
    "js": (lambda v: math.log(2) - sp(-v), lambda t: -math.log(2 - math.exp(t))),
    "tv": (lambda v: 0.5 * math.tanh(v), lambda t: t),
    "gan": (lambda v: -sp(-v), lambda t: -math.log(1 - math.exp(t))),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_losses_match_formulas(name):
    params, critic_expected, generator_expected = CASES[name]
    div = divergence(name, **params)
    b = inputs(ColumnCritic(), batch(R), batch(F))
    assert div.critic_loss(b).item() == pytest.approx(critic_expected, rel=1e-6)
    assert div.generator_loss(b).item() == pytest.approx(generator_expected, rel=1e-6)


@pytest.mark.parametrize("f", sorted(FGAN))
@pytest.mark.parametrize("generator_loss", ["saturating", "non-saturating"])
def test_fgan_matches_the_conjugate_table(f, generator_loss):
    g, conj = FGAN[f]
    div = divergence("f-gan", divergence=f, generator_loss=generator_loss)
    b = inputs(ColumnCritic(), batch(R), batch(F))
    expected_critic = -(mean([g(r) for r in R]) - mean([conj(g(v)) for v in F]))
    expected_gen = -mean([conj(g(v)) for v in F]) if generator_loss == "saturating" else -mean([g(v) for v in F])
    assert div.critic_loss(b).item() == pytest.approx(expected_critic, rel=1e-6)
    assert div.generator_loss(b).item() == pytest.approx(expected_gen, rel=1e-6)


@pytest.mark.parametrize("distance", ["l1", "l2"])
def test_gan_qp_uses_per_pair_distances(distance):
    real = torch.tensor([[1.0, 0.0, 2.0], [0.0, 3.0, -1.0]], dtype=torch.float64)
    fake = torch.tensor([[0.5, 1.0, 0.0], [2.0, -1.0, 1.0]], dtype=torch.float64)
    rows_r, rows_f = real.tolist(), fake.tolist()
    deltas = [r[0] - f[0] for r, f in zip(rows_r, rows_f, strict=True)]
    if distance == "l1":
        d = [mean([abs(a - b) for a, b in zip(r, f, strict=True)]) for r, f in zip(rows_r, rows_f, strict=True)]
    else:
        d = [math.sqrt(mean([(a - b) ** 2 for a, b in zip(r, f, strict=True)]))
             for r, f in zip(rows_r, rows_f, strict=True)]
    lam, eps = 3.0, 1e-8
    div = divergence("gan-qp", lam=lam, distance=distance)
    b = inputs(ColumnCritic(), real, fake)
    expected = mean([-dl + dl * dl / (2 * lam * (dd + eps)) for dl, dd in zip(deltas, d, strict=True)])
    assert div.critic_loss(b).item() == pytest.approx(expected, rel=1e-6)
    assert div.generator_loss(b).item() == pytest.approx(mean(deltas), rel=1e-6)
    # averaging d over the batch (a known porting bug) gives a different value here
    wrong = mean([-dl + dl * dl / (2 * lam * mean(d)) for dl in deltas])
    assert abs(wrong - expected) > 1e-3


def test_gan_qp_with_a_pair_critic():
    class Pair(torch.nn.Module):  # T(x, y) = x₀ − 2 y₀, so Δ = T(x_r, x_f) − T(x_f, x_r) = 3 (x_r₀ − x_f₀)
        kind = "pair"

        def forward(self, x, y):
            return x[:, 0] - 2 * y[:, 0]

    real = torch.tensor([[1.0, 0.0], [0.0, 3.0], [2.0, 2.0]], dtype=torch.float64)
    fake = torch.tensor([[0.5, 1.0], [2.0, -1.0], [2.0, 2.5]], dtype=torch.float64)
    lam = 4.0
    rows = list(zip(real.tolist(), fake.tolist(), strict=True))
    deltas = [(r[0] - 2 * f[0]) - (f[0] - 2 * r[0]) for r, f in rows]
    d = [math.sqrt(mean([(a - b) ** 2 for a, b in zip(r, f, strict=True)])) for r, f in rows]
    div = divergence("gan-qp", lam=lam, distance="l2")
    b = inputs(Pair(), real, fake)
    expected = mean([-dl + dl * dl / (2 * lam * (dd + 1e-8)) for dl, dd in zip(deltas, d, strict=True)])
    assert div.critic_loss(b).item() == pytest.approx(expected, rel=1e-6)
    assert div.generator_loss(inputs(Pair(), real, fake, step="generator")).item() == pytest.approx(mean(deltas))


def test_wgan_clips_every_critic_parameter():
    layer = torch.nn.Linear(3, 2)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([[1.0, -1.0, 0.01], [-0.03, 0.2, 0.0]]))
        layer.bias.copy_(torch.tensor([-7.0, 0.02]))
    divergence("wgan", clip=0.05).clip_critic(layer)
    assert layer.weight.flatten().tolist() == pytest.approx([0.05, -0.05, 0.01, -0.03, 0.05, 0.0])
    assert layer.bias.tolist() == pytest.approx([-0.05, 0.02])


@pytest.mark.parametrize("slope", [3.0, 0.5])  # 0.5: a one-sided penalty would be 0 here
def test_gradient_penalties_on_a_linear_critic(slope):
    class Linear(torch.nn.Module):  # ‖∇T‖ = slope everywhere
        kind = "score"

        def forward(self, x, labels=None):
            return slope * x[:, 0]

    b = inputs(Linear(), batch(R), batch(F))
    gp = divergence("wgan-gp", lam=2.0).critic_loss(b).item()
    assert gp == pytest.approx(slope * (mean(F) - mean(R)) + 2.0 * (slope - 1) ** 2, rel=1e-6)
    b = inputs(Linear(), batch(R), batch(F))
    div = divergence("wgan-div", k=2.0, p=6.0).critic_loss(b).item()
    assert div == pytest.approx(slope * (mean(F) - mean(R)) + 2.0 * slope**6, rel=1e-6)


def test_gradient_penalty_is_taken_at_per_sample_interpolates():
    class Recording(torch.nn.Module):  # T(x) = x₀² + x₁: ∇T = (2x₀, 1) depends on where it is taken
        kind = "score"

        def __init__(self):
            super().__init__()
            self.seen = []

        def forward(self, x, labels=None):
            self.seen.append(x.detach().clone())
            return x[:, 0] ** 2 + x[:, 1]

    torch.manual_seed(0)
    real = torch.randn(64, 2, dtype=torch.float64)
    fake = torch.randn(64, 2, dtype=torch.float64) + 3
    critic = Recording()
    loss = divergence("wgan-gp", lam=1.0).critic_loss(inputs(critic, real, fake))
    (x_hat,) = [x for x in critic.seen if not (torch.equal(x, real) or torch.equal(x, fake))]
    eps = ((x_hat - fake) / (real - fake))[:, 0]
    assert torch.allclose(x_hat, eps[:, None] * real + (1 - eps[:, None]) * fake)  # on each pair's segment
    assert ((eps >= 0) & (eps <= 1)).all() and eps.std() > 0.1  # one ε per sample, not per batch
    norms = [math.hypot(2 * x0, 1.0) for x0 in x_hat[:, 0].tolist()]
    scores = [x0**2 + x1 for x0, x1 in real.tolist()], [x0**2 + x1 for x0, x1 in fake.tolist()]
    expected = mean(scores[1]) - mean(scores[0]) + mean([(n - 1) ** 2 for n in norms])
    assert loss.item() == pytest.approx(expected, rel=1e-5)


def test_energy_losses_and_began_state():
    eb = divergence("ebgan", margin=1.0)
    real, fake = [0.2, 0.4], [0.5, 1.5]
    b = inputs(ColumnCritic(), batch(real), batch(fake))
    assert eb.critic_loss(b).item() == pytest.approx(mean(real) + mean([max(0, 1 - f) for f in fake]))
    assert eb.generator_loss(b).item() == pytest.approx(mean(fake))
    be = divergence("began", gamma=0.5, lambda_k=0.1, k_init=0.2)
    b = inputs(ColumnCritic(), batch(real), batch(fake))
    assert be.critic_loss(b).item() == pytest.approx(mean(real) - 0.2 * mean(fake))
    be.after_critic_step(b)
    k1 = 0.2 + 0.1 * (0.5 * mean(real) - mean(fake))
    assert be.state_dict()["k"].item() == pytest.approx(k1)
    restored = divergence("began")
    restored.load_state_dict(be.state_dict())
    assert restored.k.item() == pytest.approx(k1)
    for _ in range(100):  # k_t stays in [0, 1]
        be.after_critic_step(b)
    assert be.k.item() == 0.0
