"""DiffAugment: shape, value range, exact per-policy behaviour, gradients, determinism, and no flip leak."""

from __future__ import annotations

import pytest
import torch
from augment_helpers import diffaugment, left_bright, left_right

POLICIES = [["color"], ["translation"], ["cutout"], ["color", "translation", "cutout"]]


@pytest.mark.parametrize("policy", POLICIES, ids="+".join)
@pytest.mark.parametrize("channels", [1, 3])
def test_shape_and_dtype_are_kept(policy: list[str], channels: int) -> None:
    x = torch.rand(8, channels, 28, 28) * 2 - 1
    y = diffaugment(policy=policy)(x)
    assert y.shape == x.shape and y.dtype == x.dtype
    assert not torch.equal(y, x)


def test_translation_shifts_whole_images_by_at_most_an_eighth_with_zero_padding() -> None:
    side, batch = 32, 256
    x = torch.zeros(batch, 1, side, side)
    x[:, :, 16, 16] = 1.0  # one bright pixel: its new place is the shift
    y = diffaugment(policy=["translation"])(x)
    assert torch.equal(y.sum(dim=(1, 2, 3)), torch.ones(batch))  # nothing reaches the border: kept exactly once
    pos = y.flatten(1).argmax(dim=1)
    rows, cols = pos // side - 16, pos % side - 16
    assert rows.abs().max() == 4 and cols.abs().max() == 4  # round(32 / 8), both extremes reached
    assert len(set(rows.tolist())) == 9 and len(set(cols.tolist())) == 9

    ones = torch.ones(batch, 1, side, side)
    z = diffaugment(policy=["translation"], seed=1)(ones)
    assert set(z.unique().tolist()) <= {0.0, 1.0}  # zero padding, values otherwise untouched
    assert (z == 0).any()


def test_cutout_zeroes_one_square_of_half_the_side() -> None:
    side, batch = 16, 512
    x = torch.ones(batch, 1, side, side)
    y = diffaugment(policy=["cutout"])(x)
    zeros = (y == 0).squeeze(1)
    counts = zeros.sum(dim=(1, 2))
    assert counts.max() == 64 and counts.min() >= 1 and (counts < 64).any()  # 8×8, clipped near the border
    for mask in zeros[:32]:  # the zeroed pixels form one rectangle
        r = mask.any(dim=1).nonzero().flatten()
        c = mask.any(dim=0).nonzero().flatten()
        assert mask[r.min() : r.max() + 1, c.min() : c.max() + 1].all()
        assert int(mask.sum()) == len(r) * len(c)
    assert torch.equal(y[~(y == 0)], x[~(y == 0)])


def test_color_moves_a_constant_image_by_at_most_half_and_keeps_grey_grey() -> None:
    x = torch.full((1000, 3, 4, 4), 0.2)
    y = diffaugment(policy=["color"])(x)
    # brightness shifts by u − 0.5; saturation and contrast leave a constant image alone
    assert torch.allclose(y, y[:, :1, :1, :1].expand_as(y))
    assert y.min() >= 0.2 - 0.5 and y.max() <= 0.2 + 0.5
    assert y.mean().item() == pytest.approx(0.2, abs=0.03)  # E[u − 0.5] = 0: unbiased
    assert y.min() < -0.2 and y.max() > 0.6


def test_color_scales_saturation_and_contrast_per_sample() -> None:
    torch.manual_seed(0)
    x = torch.rand(64, 3, 8, 8) * 2 - 1
    y = diffaugment(policy=["color"])(x)
    spread_in = (x - x.mean(dim=(1, 2, 3), keepdim=True)).flatten(1).std(dim=1)
    spread_out = (y - y.mean(dim=(1, 2, 3), keepdim=True)).flatten(1).std(dim=1)
    ratio = spread_out / spread_in
    assert ratio.min() < 0.5 and ratio.max() > 1.0  # contrast in [0.5, 1.5) times saturation in [0, 2)


@pytest.mark.parametrize("policy", POLICIES, ids="+".join)
def test_gradients_are_exact(policy: list[str]) -> None:
    aug = diffaugment(policy=policy)
    start = aug.generator.get_state()

    def fixed_draws(x: torch.Tensor) -> torch.Tensor:  # gradcheck calls it many times: same draws each time
        aug.generator.set_state(start)
        return aug(x)

    x = (torch.rand(3, 3, 8, 8, dtype=torch.float64) * 2 - 1).requires_grad_(True)
    assert torch.autograd.gradcheck(fixed_draws, (x,), eps=1e-6, atol=1e-5)


def test_gradients_reach_the_generator_through_the_augmentation() -> None:
    x = torch.randn(4, 1, 16, 16, requires_grad=True)
    diffaugment()(x).square().sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    y = torch.randn(4, 1, 16, 16, requires_grad=True)
    diffaugment(policy=["translation", "cutout"])(y).square().sum().backward()
    assert y.grad is not None and (y.grad == 0).any()  # cut-out pixels get no gradient: it went through cutout


def test_same_seed_same_draws_other_rank_other_draws_training_rng_untouched() -> None:
    x = torch.rand(16, 3, 16, 16)
    torch.manual_seed(123)
    before = torch.get_rng_state()
    a, b, other = diffaugment(seed=7), diffaugment(seed=7), diffaugment(seed=8)
    ya, yb, yo = a(x), b(x), other(x)
    assert torch.equal(ya, yb)
    assert not torch.equal(ya, yo)
    assert torch.equal(torch.get_rng_state(), before)  # the training RNG is never drawn from
    assert not torch.equal(a(x), ya)  # every call draws afresh


def test_stream_differs_from_the_training_rng_seeded_with_the_same_number() -> None:
    aug = diffaugment(seed=5)
    torch.manual_seed(5)
    assert not torch.equal(aug.uniform(100), torch.rand(100))


def test_state_round_trip_replays_the_same_draws() -> None:
    x = torch.rand(8, 1, 16, 16)
    a = diffaugment(seed=3)
    a(x)
    state = a.state_dict()
    expected = a(x)
    b = diffaugment(seed=3)
    b.load_state_dict(state)
    assert torch.equal(b(x), expected)


def test_a_state_from_another_rank_reseeds_instead_of_replaying_that_ranks_stream() -> None:
    x = torch.rand(8, 1, 16, 16)
    rank0, rank1 = diffaugment(seed=10), diffaugment(seed=11)
    rank0(x)
    state = rank0.state_dict()
    replay = rank0(x)
    rank1.load_state_dict(state)
    assert not torch.equal(rank1(x), replay)


def test_unbound_augmentation_refuses_to_draw() -> None:
    from gankit.augment import DiffAugmentParams
    from gankit.augment.diffaugment import DiffAugment

    with pytest.raises(RuntimeError, match="bind"):
        DiffAugment(DiffAugmentParams())(torch.zeros(1, 1, 8, 8))


def test_expected_image_keeps_the_asymmetry_of_the_data() -> None:
    """No policy flips: the average augmented image of a left-bright image is still left-bright (a measurable
    proxy for "the generator is not pushed towards symmetric images")."""
    x = left_bright(batch=2000, channels=3)
    mean_image = diffaugment()(x).mean(dim=0, keepdim=True)
    assert left_right(mean_image).item() > 0.5 * left_right(x[:1]).item() / 2


def test_two_dimensional_batches_are_refused() -> None:
    with pytest.raises(ValueError, match="image batches"):
        diffaugment()(torch.zeros(4, 2))
