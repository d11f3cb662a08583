"""ADA: the pipeline (exact transforms, range, gradients, determinism, no leak for p < 1), the adaptation of p
(direction and size for every kind of critic score, reduced across ranks), logging and checkpoint state."""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from augment_helpers import CPU, ada, left_bright, left_right
from torch import nn

from gankit.augment import ops
from gankit.protocols import LossInputs, RunContext


# ---------------------------------------------------------------------------------------- the pipeline
def test_p_zero_is_the_identity() -> None:
    x = torch.rand(16, 3, 16, 16) * 2 - 1
    assert torch.equal(ada(p_init=0.0)(x), x)


@pytest.mark.parametrize("channels", [1, 3])
def test_shape_and_pixel_blitting_only_moves_pixels(channels: int) -> None:
    x = torch.rand(32, channels, 12, 12) * 2 - 1
    y = ada(p_init=1.0, color=False)(x)
    assert y.shape == x.shape and y.dtype == x.dtype
    assert not torch.equal(y, x)
    assert y.min() >= x.min() and y.max() <= x.max()  # reflect padding: no new values, no blank borders
    seen = torch.isin(y, x)
    assert seen.all()


@pytest.mark.parametrize("k", [0, 1, 2, 3])
@pytest.mark.parametrize("flip", [False, True])
def test_blit_matches_rot90_flip_and_reflect_translation(k: int, flip: bool) -> None:
    x = torch.arange(2 * 6 * 6, dtype=torch.float32).view(2, 1, 6, 6)
    got = ops.blit(x, torch.tensor([flip, flip]), torch.tensor([k, k]), torch.tensor([0, 2]), torch.tensor([0, -1]))
    moved = F.pad(x, (3, 3, 3, 3), mode="reflect")  # translate by (2, -1) with reflect padding
    shifted = torch.stack([x[0], moved[1, :, 3 - 2 : 3 - 2 + 6, 3 + 1 : 3 + 1 + 6]])
    expected = torch.rot90(shifted, k, dims=(2, 3))
    if flip:
        expected = expected.flip(3)
    assert torch.equal(got, expected)


@pytest.mark.parametrize("shift", [-5, -3, 0, 4, 5])
def test_translation_reflects_like_reflect_padding_up_to_the_side(shift: int) -> None:
    x = torch.arange(6 * 6, dtype=torch.float32).view(1, 1, 6, 6)
    none = torch.tensor([0])
    got = ops.blit(x, torch.tensor([False]), none, torch.tensor([shift]), torch.tensor([-shift]))
    padded = F.pad(x, (5, 5, 5, 5), mode="reflect")
    expected = padded[..., 5 - shift : 11 - shift, 5 + shift : 11 + shift]
    assert torch.equal(got, expected)


def test_hue_rotation_by_a_third_of_a_turn_cycles_the_channels_and_keeps_grey() -> None:
    x = torch.rand(2, 3, 4, 4)
    m = ops.hue_rotation(torch.full((2,), 2 * math.pi / 3))
    y = ops.apply_colour_matrix(x, m)
    assert torch.allclose(y, x.roll(1, dims=1), atol=1e-6)  # R→G→B
    grey = torch.full((1, 3, 2, 2), 0.3)
    assert torch.allclose(ops.apply_colour_matrix(grey, ops.hue_rotation(torch.tensor([1.0]))), grey, atol=1e-6)


def test_luma_flip_negates_grey_and_saturation_zero_makes_grey() -> None:
    grey = torch.rand(2, 1, 4, 4)
    assert torch.allclose(ops.apply_colour_matrix(grey, ops.luma_flip(torch.ones(2))), -grey, atol=1e-6)
    rgb = torch.rand(2, 3, 4, 4)
    flat = ops.apply_colour_matrix(rgb, ops.saturation(torch.zeros(2)))
    assert torch.allclose(flat, rgb.mean(dim=1, keepdim=True).expand_as(rgb), atol=1e-6)
    twice = ops.apply_colour_matrix(rgb, ops.saturation(torch.full((2,), 2.0)))
    mean = rgb.mean(dim=1, keepdim=True)
    assert torch.allclose(twice, mean + 2 * (rgb - mean), atol=1e-6)


def test_colour_group_changes_values_and_stays_finite() -> None:
    x = torch.rand(64, 3, 8, 8) * 2 - 1
    y = ada(p_init=1.0, blit=False)(x)
    assert torch.isfinite(y).all() and not torch.allclose(y, x)
    # brightness N(0, 0.2²) and contrast 2^N(0, 0.5²) keep typical values within a few units of [-1, 1]
    assert y.abs().quantile(0.99) < 4


@pytest.mark.parametrize("groups", [{"color": False}, {"blit": False}, {}], ids=["blit", "color", "both"])
def test_gradients_are_exact(groups: dict[str, bool]) -> None:
    aug = ada(p_init=0.7, **groups)
    start = aug.generator.get_state()

    def fixed_draws(x: torch.Tensor) -> torch.Tensor:
        aug.generator.set_state(start)
        return aug(x)

    x = (torch.rand(4, 3, 6, 6, dtype=torch.float64) * 2 - 1).requires_grad_(True)
    assert torch.autograd.gradcheck(fixed_draws, (x,), eps=1e-6, atol=1e-5)


def test_same_seed_same_draws_other_rank_other_draws() -> None:
    x = torch.rand(16, 3, 8, 8)
    assert torch.equal(ada(seed=1, p_init=0.5)(x), ada(seed=1, p_init=0.5)(x))
    assert not torch.equal(ada(seed=1, p_init=0.5)(x), ada(seed=2, p_init=0.5)(x))


def test_non_leaking_below_p_one_leaking_at_p_one() -> None:
    """The paper's argument, measured: with every transform skipped with probability 1 − p the expected
    augmented image of a left-bright image keeps its asymmetry, ≈ (1 − p)² of it (x-flip applied with p/2,
    rotations averaging to 1 − p); at p = 1 it is gone (the augmented distribution is symmetric, and a
    generator could match it with flipped images: a leak)."""
    x = left_bright(batch=4000, side=16)
    original = left_right(x[:1]).item()
    for p in (0.2, 0.5, 0.8):
        kept = left_right(ada(p_init=p, color=False, seed=3)(x).mean(dim=0, keepdim=True)).item() / original
        assert kept == pytest.approx((1 - p) ** 2, abs=0.04), p
    leaked = left_right(ada(p_init=1.0, color=False, seed=3)(x).mean(dim=0, keepdim=True)).item() / original
    assert abs(leaked) < 0.04


def test_colour_group_keeps_the_expected_brightness_order_below_p_one() -> None:
    """Luma flip is the colour group's only sign-changing transform (applied with p/2): the expected image of a
    bright image stays bright for p < 1 and averages towards grey (0) only at p = 1."""
    x = torch.full((4000, 1, 4, 4), 0.5)
    for p in (0.3, 0.7):
        mean = ada(p_init=p, blit=False, seed=4)(x).mean().item()
        assert mean > 0.5 * (1 - p) * 0.8, p
    assert abs(ada(p_init=1.0, blit=False, seed=4)(x).mean().item()) < 0.05


# -------------------------------------------------------------------------------------- adaptation
class FixedScores(nn.Module):
    """A critic whose score is a fixed function of the input mean: lets a test choose r_t exactly."""

    def __init__(self, kind: str = "score", real_value: float = 1.0, fake_value: float = -1.0) -> None:
        super().__init__()
        self.kind = kind
        self.real_value, self.fake_value = real_value, fake_value

    def forward(self, x: torch.Tensor, other: torch.Tensor | None = None) -> torch.Tensor:
        real = x.flatten(1).mean(dim=1) > 0  # the real batch is positive, the fake one negative
        return torch.where(real, self.real_value, self.fake_value)


def _critic_step(aug: Any, critic: nn.Module, batch: int = 16) -> LossInputs:
    real = torch.full((batch, 1, 8, 8), 0.5)
    fake = torch.full((batch, 1, 8, 8), -0.5)
    b = LossInputs(step="critic", critic=critic, fake=fake, real=real)
    aug.after_critic_step(b)
    return b


def _p_after(aug: Any, critic: nn.Module, steps: int) -> float:
    for _ in range(steps):
        _critic_step(aug, critic)
    return float(aug.p)


def _untouched(aug: Any) -> Any:
    """Switch the transforms off (params a spec could not hold) so the test critic sees exact batches."""
    aug.params = aug.params.model_copy(update={"blit": False, "color": False})
    return aug


def test_an_overfitting_critic_raises_p_by_the_papers_step() -> None:
    aug = _untouched(ada(p_init=0.0, interval=4, speed_kimg=0.5))
    assert _p_after(aug, FixedScores(real_value=2.0), 3) == 0.0  # not yet an interval
    assert _p_after(aug, FixedScores(real_value=2.0), 1) == pytest.approx(16 * 4 / 500)
    assert _p_after(aug, FixedScores(real_value=2.0), 4) == pytest.approx(2 * 16 * 4 / 500)


def test_a_critic_that_cannot_tell_lowers_p_and_p_stays_in_bounds() -> None:
    aug = _untouched(ada(p_init=0.5, interval=1, speed_kimg=1.0))
    assert _p_after(aug, FixedScores(real_value=-0.5), 1) == pytest.approx(0.5 - 16 / 1000)  # r_t = −1 < 0.6
    aug = _untouched(ada(p_init=0.1, interval=1, speed_kimg=0.1))
    assert _p_after(aug, FixedScores(real_value=-0.5), 1) == 0.0  # 0.1 − 0.16, clipped at 0
    aug = _untouched(ada(p_init=0.5, p_max=0.8, interval=1, speed_kimg=0.01))
    assert _p_after(aug, FixedScores(real_value=3.0), 3) == pytest.approx(0.8)  # capped at p_max


def test_fixed_p_never_moves() -> None:
    aug = _untouched(ada(p_init=0.3, fixed=True, interval=1, speed_kimg=0.01))
    assert _p_after(aug, FixedScores(real_value=3.0), 5) == pytest.approx(0.3)


@pytest.mark.parametrize(
    ("kind", "real_value", "fake_value", "rises"),
    [
        ("score", 5.0, 4.0, True),  # potentials: every real above the mean fake, whatever the offset
        ("score", -4.0, -3.0, False),  # reals below the fakes: the critic is not overfitting
        ("autoencoder", 0.1, 0.9, True),  # energies: lower means real
        ("autoencoder", 0.9, 0.1, False),
        ("pair", 2.0, -2.0, True),  # pair critic: sign of T(x_r, x_f) − T(x_f, x_r)
    ],
)
def test_centred_statistic_for_scores_that_are_not_logits(kind: str, real_value: float, fake_value: float,
                                                           rises: bool) -> None:
    aug = _untouched(ada(p_init=0.5, interval=1, speed_kimg=1.0, logits=False))
    assert aug.statistic == "centred"
    b = _critic_step(aug, FixedScores(kind, real_value, fake_value))
    assert (float(aug.p) > 0.5) is rises
    assert float(b.logs["augment/rt"]) == (1.0 if rises else -1.0)


def test_the_logit_statistic_uses_the_sign_of_the_real_scores() -> None:
    # all reals score +0.1 but above the fakes: centred says 1 (overfit), sign says 1 too; at −0.1 sign says −1
    aug = _untouched(ada(p_init=0.5, interval=1, speed_kimg=1.0, logits=True))
    b = _critic_step(aug, FixedScores("score", -0.1, -3.0))
    assert float(b.logs["augment/rt"]) == -1.0 and float(aug.p) < 0.5


def test_statistic_is_reduced_across_ranks_before_p_moves() -> None:
    calls: list[torch.Tensor] = []

    def other_rank_disagrees(t: torch.Tensor) -> torch.Tensor:
        calls.append(t.clone())
        return (t + torch.stack([-t[0], t[1]])) / 2  # the other rank's signs cancel this one's

    ctx = RunContext(device=CPU, seed=0, world_size=2, all_reduce_mean=other_rank_disagrees)
    aug = _untouched(ada(ctx=ctx, p_init=0.5, interval=2, speed_kimg=1.0))
    _p_after(aug, FixedScores(real_value=1.0), 2)
    assert len(calls) == 1 and calls[0].tolist() == [32.0, 32.0]  # sum of signs and count over the interval
    # the reduced r_t is 0 < 0.6: p falls, by the global batch (2 ranks × 16 × 2 steps)
    assert float(aug.p) == pytest.approx(0.5 - 2 * 16 * 2 / 1000)


def test_p_and_rt_are_logged_every_critic_step() -> None:
    aug = _untouched(ada(p_init=0.25, interval=4))
    b = _critic_step(aug, FixedScores(real_value=1.0))
    assert float(b.logs["augment/p"]) == 0.25 and float(b.logs["augment/rt"]) == 1.0


def test_state_round_trip_resumes_exactly() -> None:
    x = torch.rand(8, 3, 8, 8)
    a = ada(seed=9, p_init=0.3, interval=3, speed_kimg=0.2)
    critic = FixedScores(real_value=1.0)
    for _ in range(5):  # mid-interval: the partial sums must be carried
        a(x)
        _critic_step(a, critic)
    state = a.state_dict()
    b = ada(seed=9, p_init=0.0, interval=3, speed_kimg=0.2)
    b.load_state_dict(state)
    assert float(b.p) == float(a.p)
    for _ in range(4):
        assert torch.equal(a(x), b(x))
        _critic_step(a, critic)
        _critic_step(b, critic)
        assert float(a.p) == float(b.p)


def test_state_survives_a_weights_only_checkpoint(tmp_path: Any) -> None:
    a = ada(seed=2, p_init=0.4)
    torch.save(a.state_dict(), tmp_path / "s.pt")
    b = ada(seed=2)
    b.load_state_dict(torch.load(tmp_path / "s.pt", weights_only=True))
    x = torch.rand(4, 1, 8, 8)
    assert float(b.p) == pytest.approx(0.4) and torch.equal(a(x), b(x))


def test_two_gloo_ranks_draw_differently_and_keep_the_same_p(tmp_path: Any) -> None:
    """Data parallel: each rank augments with its own stream (seeded per rank); r_t is averaged over ranks, so
    a rank whose critic overfits (+1) and one whose critic does not (−1) both see r_t = 0 and lower p alike."""
    import torch.multiprocessing as mp
    from augment_workers import ada_worker, free_port

    mp.start_processes(ada_worker, args=(2, free_port(), tmp_path), nprocs=2, join=True, start_method="spawn")
    results = [torch.load(tmp_path / f"result-{r}.pt", weights_only=False) for r in range(2)]
    for rank, res in enumerate(results):
        assert res["error"] is None, f"rank {rank}: {res['error']}"
    assert not torch.equal(results[0]["augmented"], results[1]["augmented"])
    expected = 0.5 - 2 * (2 * 8 * 2 / 1000)  # two adjustments down, each by 2 ranks × 8 images × 2 steps
    assert results[0]["p"] == results[1]["p"] == pytest.approx(expected)


def test_state_is_cpu_tensors_only_so_ranks_can_gather_it() -> None:
    state = ada(p_init=0.2).state_dict()
    assert all(isinstance(v, torch.Tensor) and v.device.type == "cpu" for v in state.values())
    from augment_helpers import diffaugment

    assert all(isinstance(v, torch.Tensor) for v in diffaugment().state_dict().values())
