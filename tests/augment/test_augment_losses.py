"""Augmentation through LossInputs: every critic call sees augmented batches (both arguments of a pair critic,
never the labels), gradients reach the generator through the augmentation, gradient penalties differentiate
the augmented critic T∘A with respect to the raw interpolate, and GAN-QP's pair distance stays on raw pairs."""

from __future__ import annotations

import pytest
import torch
from augment_helpers import ada, diffaugment
from torch import nn

from gankit.divergences import GANQPParams, WGANGPParams
from gankit.divergences.ganqp import GANQP
from gankit.divergences.sgan import NonSaturating
from gankit.divergences.wgan import WGANGP
from gankit.ops import input_gradient_norms
from gankit.protocols import BuildEnv, DataInfo, LossInputs

ENV = BuildEnv(data=DataInfo(shape=(1, 8, 8)))


class Recorder(nn.Module):
    """A linear score critic that remembers what it was called with."""

    def __init__(self, kind: str = "score") -> None:
        super().__init__()
        self.kind = kind
        self.w = nn.Parameter(torch.linspace(-1, 1, 64).view(1, 1, 8, 8))
        self.seen: list[tuple[torch.Tensor, torch.Tensor | None]] = []

    def forward(self, x: torch.Tensor, other: torch.Tensor | None = None) -> torch.Tensor:
        self.seen.append((x.detach().clone(), None if other is None else other.detach().clone()))
        score = (x * self.w).flatten(1).sum(dim=1)
        if self.kind == "pair":
            assert other is not None
            score = score - 0.5 * (other * self.w).flatten(1).sum(dim=1)
        return score


def _batches(n: int = 6) -> tuple[torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    return torch.rand(n, 1, 8, 8) * 2 - 1, torch.rand(n, 1, 8, 8) * 2 - 1


def test_without_augment_the_critic_sees_the_batches_themselves() -> None:
    real, fake = _batches()
    critic = Recorder()
    b = LossInputs(step="critic", critic=critic, fake=fake, real=real)
    NonSaturating(None, ENV).critic_loss(b)  # type: ignore[arg-type]
    assert torch.equal(critic.seen[0][0], real) and torch.equal(critic.seen[1][0], fake)


def test_score_critic_sees_augmented_real_and_fake_labels_untouched() -> None:
    real, fake = _batches()
    labels = torch.arange(6)
    critic = Recorder()
    aug = diffaugment(seed=1)
    b = LossInputs(step="critic", critic=critic, fake=fake, real=real, real_labels=labels, fake_labels=labels,
                   augment=aug)
    NonSaturating(None, ENV).critic_loss(b)  # type: ignore[arg-type]
    replay = diffaugment(seed=1)
    assert torch.equal(critic.seen[0][0], replay(real)) and torch.equal(critic.seen[1][0], replay(fake))
    assert critic.seen[0][1] is None or torch.equal(critic.seen[0][1], labels)


def test_pair_critic_sees_both_arguments_augmented_with_independent_draws() -> None:
    real, fake = _batches()
    critic = Recorder("pair")
    aug = diffaugment(seed=2)
    b = LossInputs(step="critic", critic=critic, fake=fake, real=real, augment=aug)
    GANQP(GANQPParams(), ENV).critic_loss(b)
    replay = diffaugment(seed=2)
    first_a, first_b, second_a, second_b = replay(real), replay(fake), replay(fake), replay(real)
    assert torch.equal(critic.seen[0][0], first_a) and torch.equal(critic.seen[0][1], first_b)
    assert torch.equal(critic.seen[1][0], second_a) and torch.equal(critic.seen[1][1], second_b)


def test_generator_gradient_flows_through_the_augmentation() -> None:
    _, fake = _batches()
    fake = fake.requires_grad_(True)
    critic = Recorder().requires_grad_(False)
    b = LossInputs(step="generator", critic=critic, fake=fake, real=None, augment=diffaugment(policy=["cutout"]))
    NonSaturating(None, ENV).generator_loss(b).backward()  # type: ignore[arg-type]
    assert fake.grad is not None and fake.grad.abs().sum() > 0
    cut = critic.seen[0][0] == 0
    assert cut.any()  # the critic saw a cut-out batch
    assert (fake.grad[cut] == 0).all() and (fake.grad[~cut] != 0).all()  # zero exactly where A cut out


def test_gradient_penalty_differentiates_the_augmented_critic_at_the_raw_interpolate() -> None:
    """With T linear, ∇_x T(A(x)) is Aᵀw: zero where cutout zeroed the input, w elsewhere. Without the
    augmentation it would be w everywhere; the penalty therefore sees the critic the loss trains (T∘A)."""
    real, fake = _batches()
    critic = Recorder()
    x_hat = (0.5 * real + 0.5 * fake).detach()
    norm_plain = input_gradient_norms(critic, x_hat.clone(), None)
    assert torch.allclose(norm_plain, critic.w.detach().flatten().norm().expand(6))
    aug = diffaugment(policy=["cutout"], seed=4)
    norm_aug = input_gradient_norms(critic, x_hat.clone(), None, augment=aug)
    kept = (critic.seen[-1][0] != 0).float()  # what the critic saw: x_hat with a square cut out
    expected = (kept * critic.w.detach()).flatten(1).norm(dim=1)
    assert torch.allclose(norm_aug, expected)
    assert (norm_aug < norm_plain).all()


def test_wgan_gp_penalty_trains_the_critic_through_the_augmentation() -> None:
    real, fake = _batches()
    critic = Recorder()
    b = LossInputs(step="critic", critic=critic, fake=fake, real=real, augment=ada(p_init=0.6, seed=5))
    loss = WGANGP(WGANGPParams(), ENV).critic_loss(b)
    loss.backward()
    assert critic.w.grad is not None and torch.isfinite(critic.w.grad).all() and critic.w.grad.abs().sum() > 0


def test_gan_qp_pair_distance_is_on_raw_pairs() -> None:
    """d(x_r, x_f) is measured between the samples, not their augmentations: independent draws for x_r[i] and
    x_f[i] would make it measure the augmentation (e.g. two cutouts far apart), and the bound |Δ*| ≤ λ d the
    quadratic term enforces is on the critic T∘A as a function of the data."""
    real, fake = _batches()
    critic = Recorder()
    augmented = LossInputs(step="critic", critic=critic, fake=fake, real=real, augment=diffaugment(seed=6))
    params = GANQPParams()
    loss = GANQP(params, ENV).critic_loss(augmented)
    delta = augmented.real_scores - augmented.fake_scores  # cached: the scores the loss used
    d = (real - fake).abs().flatten(1).mean(dim=1) + params.eps
    assert torch.allclose(loss, (-delta + delta.square() / (2 * params.lam * d)).mean())


def test_augmented_scores_are_computed_once_per_loss() -> None:
    real, fake = _batches()
    critic = Recorder()
    b = LossInputs(step="critic", critic=critic, fake=fake, real=real, augment=diffaugment())
    first = b.real_scores
    assert torch.equal(b.real_scores, first) and len(critic.seen) == 1


@pytest.mark.parametrize("step", ["critic", "generator"])
def test_both_steps_augment(step: str) -> None:
    real, fake = _batches()
    critic = Recorder()
    b = LossInputs(step=step, critic=critic, fake=fake, real=real, augment=diffaugment(policy=["translation"]))  # type: ignore[arg-type]
    _ = b.fake_scores
    assert not torch.equal(critic.seen[0][0], fake)


def test_r1_and_r2_penalise_the_augmented_critic_too() -> None:
    """R1/R2 (run.regularize) follow the same rule as the divergences' penalties: ∇_x T(A(x)) at the raw batch."""
    from gankit.engine.regularizers import critic_regularizers
    from gankit.spec import Regularize

    real, fake = _batches()
    critic = Recorder()
    w_sq = critic.w.detach().square().sum()
    plain = LossInputs(step="critic", critic=critic, fake=fake, real=real)
    r1_plain = critic_regularizers(plain, Regularize(r1=2.0, acgan=0.0))
    assert r1_plain is not None and torch.allclose(r1_plain, w_sq)  # γ/2 · ‖w‖² with γ = 2
    augmented = LossInputs(step="critic", critic=critic, fake=fake, real=real,
                           augment=diffaugment(policy=["cutout"], seed=8))
    r1_aug = critic_regularizers(augmented, Regularize(r1=2.0, acgan=0.0))
    kept = (critic.seen[-1][0] != 0).float()
    expected = (kept * critic.w.detach()).flatten(1).square().sum(dim=1).mean()
    assert r1_aug is not None and torch.allclose(r1_aug, expected) and r1_aug < r1_plain
