"""The metric mathematics against closed forms, a reference implementation and hand-made samples."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from gankit.metrics.mode_coverage import mode_statistics
from gankit.metrics.stacked_mnist import histogram_stats
from gankit.metrics.stats import (
    density_coverage,
    frechet_distance,
    frechet_distance_sqrtm,
    gaussian_stats,
    inception_score,
    kernel_inception_distance,
    knn_radii,
    polynomial_mmd2_unbiased,
    precision_recall,
    trace_sqrt_product,
)


def random_spd(dim: int, seed: int, n: int | None = None) -> torch.Tensor:
    """The covariance of ``n`` (default 4·dim) correlated Gaussian samples: full rank, realistically spread."""
    gen = torch.Generator().manual_seed(seed)
    mixing = torch.randn(dim, dim, generator=gen, dtype=torch.float64) / math.sqrt(dim)
    x = torch.randn(n or 4 * dim, dim, generator=gen, dtype=torch.float64) @ mixing
    return gaussian_stats(x)[1]


# --------------------------------------------------------------------------------------------- FID
def test_fid_of_a_set_with_itself_is_zero():
    gen = torch.Generator().manual_seed(0)
    feats = torch.randn(3000, 64, generator=gen) @ torch.randn(64, 64, generator=gen)
    mu, sigma = gaussian_stats(feats)
    assert abs(frechet_distance(mu, sigma, mu, sigma)) < 1e-8 * float(torch.trace(sigma))


def test_fid_of_gaussians_with_known_moments_matches_the_closed_form():
    # commuting (diagonal) covariances: Tr((Σ1Σ2)^½) = Σ √(a_i b_i)
    a = torch.tensor([1.0, 2.0, 3.0, 0.5], dtype=torch.float64)
    b = torch.tensor([4.0, 0.5, 1.0, 2.0], dtype=torch.float64)
    mu1 = torch.tensor([0.0, 1.0, 2.0, 3.0], dtype=torch.float64)
    mu2 = torch.tensor([1.0, 1.0, 0.0, 3.0], dtype=torch.float64)
    expected = float(((mu1 - mu2) ** 2).sum() + a.sum() + b.sum() - 2 * (a * b).sqrt().sum())
    assert frechet_distance(mu1, torch.diag(a), mu2, torch.diag(b)) == pytest.approx(expected, rel=1e-12)
    # the same in a rotated basis (Σ = Q diag Qᵀ with one Q): FID is rotation invariant
    q, _ = torch.linalg.qr(torch.randn(4, 4, generator=torch.Generator().manual_seed(3), dtype=torch.float64))
    rotated = frechet_distance(q @ mu1, q @ torch.diag(a) @ q.T, q @ mu2, q @ torch.diag(b) @ q.T)
    assert rotated == pytest.approx(expected, rel=1e-10)


def test_fid_of_one_dimensional_gaussians_is_the_w2_distance():
    # in 1-D the Fréchet distance is (μ1 − μ2)² + (σ1 − σ2)²
    fid = frechet_distance(torch.tensor([1.0]), torch.tensor([[4.0]]), torch.tensor([-2.0]), torch.tensor([[9.0]]))
    assert fid == pytest.approx(9.0 + 1.0)


def test_fid_agrees_with_scipy_sqrtm():
    dim = 256
    s1, s2 = random_spd(dim, 1), random_spd(dim, 2)
    mu1 = torch.linspace(0, 1, dim, dtype=torch.float64)
    mu2 = torch.zeros(dim, dtype=torch.float64)
    ours = frechet_distance(mu1, s1, mu2, s2)
    ref = frechet_distance_sqrtm(mu1.numpy(), s1.numpy(), mu2.numpy(), s2.numpy())
    assert abs(ours - ref) / abs(ref) < 1e-6
    # ill-conditioned covariances (barely more samples than dimensions: condition number ~1e8)
    s1, s2 = random_spd(64, 1, n=70), random_spd(64, 2, n=70)
    ours = frechet_distance(mu1[:64], s1, mu2[:64], s2)
    ref = frechet_distance_sqrtm(mu1[:64].numpy(), s1.numpy(), mu2[:64].numpy(), s2.numpy())
    assert abs(ours - ref) / abs(ref) < 1e-6


@pytest.mark.slow
def test_fid_agrees_with_scipy_sqrtm_on_2048_d():
    s1, s2 = random_spd(2048, 1), random_spd(2048, 2)
    mu = torch.zeros(2048, dtype=torch.float64)
    ours = frechet_distance(mu, s1, mu + 0.1, s2)
    ref = frechet_distance_sqrtm(mu.numpy(), s1.numpy(), mu.numpy() + 0.1, s2.numpy())
    assert abs(ours - ref) / abs(ref) < 1e-6


def test_trace_sqrt_product_with_a_singular_covariance_uses_the_low_rank_route():
    # fewer samples than dimensions: Σ1 is singular (no Cholesky factor); the diagonal case is exact
    a = torch.tensor([2.0, 0.0, 3.0, 0.0], dtype=torch.float64)
    b = torch.tensor([8.0, 5.0, 3.0, 1.0], dtype=torch.float64)
    assert trace_sqrt_product(torch.diag(a), torch.diag(b)) == pytest.approx(4.0 + 3.0, rel=1e-12)
    s1 = random_spd(32, 5, n=10)  # rank 9
    s2 = random_spd(32, 6)
    eig = np.linalg.eigvals(s1.numpy() @ s2.numpy()).real.clip(min=0)
    assert trace_sqrt_product(s1, s2) == pytest.approx(float(np.sqrt(eig).sum()), rel=1e-6)


def test_gaussian_stats_match_numpy():
    x = torch.randn(500, 7, generator=torch.Generator().manual_seed(0))
    mu, sigma = gaussian_stats(x)
    assert mu.dtype == torch.float64
    np.testing.assert_allclose(sigma.numpy(), np.cov(x.double().numpy(), rowvar=False), rtol=1e-10, atol=1e-12)
    with pytest.raises(ValueError, match="at least 2"):
        gaussian_stats(x[:1])


# --------------------------------------------------------------------------------------------- KID
def test_mmd2_matches_the_definition_computed_by_loops():
    gen = torch.Generator().manual_seed(0)
    x, y = torch.randn(5, 3, generator=gen, dtype=torch.float64), torch.randn(4, 3, generator=gen, dtype=torch.float64)

    def k(a: torch.Tensor, b: torch.Tensor) -> float:
        return float((a @ b / 3 + 1) ** 3)

    xx = sum(k(x[i], x[j]) for i in range(5) for j in range(5) if i != j) / 20
    yy = sum(k(y[i], y[j]) for i in range(4) for j in range(4) if i != j) / 12
    xy = sum(k(x[i], y[j]) for i in range(5) for j in range(4)) / 20
    assert float(polynomial_mmd2_unbiased(x, y)) == pytest.approx(xx + yy - 2 * xy, rel=1e-12)


def test_kid_is_unbiased():
    """Averaged over many small subsets, the estimate matches the large-sample value — where the biased
    (V-statistic) estimator, which keeps the diagonal, is far off."""
    gen = torch.Generator().manual_seed(0)
    d = 8
    real = torch.randn(20000, d, generator=gen, dtype=torch.float64)
    fake = torch.randn(20000, d, generator=gen, dtype=torch.float64) * 1.1 + 0.1
    target = float(polynomial_mmd2_unbiased(real[:4000], fake[:4000]))  # the population MMD², nearly exactly
    mean, std, _ = kernel_inception_distance(real, fake, subsets=2000, subset_size=10, seed=1)
    stderr = std / math.sqrt(2000)
    assert abs(mean - target) < 4 * stderr + 0.01 * abs(target)

    def biased(x: torch.Tensor, y: torch.Tensor) -> float:
        kxx, kyy, kxy = ((a @ b.T / d + 1) ** 3 for a, b in ((x, x), (y, y), (x, y)))
        return float(kxx.mean() + kyy.mean() - 2 * kxy.mean())

    order = torch.randperm(20000, generator=gen)
    v = [biased(real[order[i : i + 10]], fake[order[i : i + 10]]) for i in range(0, 20000, 10)]
    assert sum(v) / len(v) - target > 10 * stderr  # what the diagonal adds


def test_kid_of_one_distribution_is_near_zero_and_positive_for_different_ones():
    gen = torch.Generator().manual_seed(0)
    a, b = torch.randn(3000, 16, generator=gen), torch.randn(3000, 16, generator=gen)
    same, same_std, _ = kernel_inception_distance(a, b, subsets=50, subset_size=500)
    shifted, _, _ = kernel_inception_distance(a, b + 0.5, subsets=50, subset_size=500)
    assert abs(same) < 3 * same_std
    assert shifted > 20 * same_std > 0


def test_kid_subset_size_is_capped_by_the_sets():
    x = torch.randn(30, 4, generator=torch.Generator().manual_seed(0))
    result = kernel_inception_distance(x, x + 3, subsets=3, subset_size=1000)
    assert result.mean > 0 and result.subset_size == 15
    with pytest.raises(ValueError, match="at least 4"):
        kernel_inception_distance(x[:1], x, subsets=1)


# ---------------------------------------------------------------------------------------------- IS
def test_inception_score_bounds():
    k = 10
    uniform = torch.zeros(1000, k)
    assert inception_score(uniform, splits=10)[0] == pytest.approx(1.0, abs=1e-12)
    one_hot_spread = torch.eye(k).repeat(100, 1) * 1000.0  # confident and evenly spread: the maximum, K
    mean, std = inception_score(one_hot_spread, splits=10)
    assert mean == pytest.approx(k, rel=1e-9) and std == pytest.approx(0.0, abs=1e-9)
    one_class = torch.zeros(1000, k)
    one_class[:, 3] = 1000.0  # confident but collapsed: the minimum again
    assert inception_score(one_class)[0] == pytest.approx(1.0, abs=1e-9)


def test_inception_score_of_two_balanced_classes_is_two():
    logits = torch.zeros(400, 1008)
    logits[:200, 5] = 1000.0
    logits[200:, 7] = 1000.0
    # interleave so every split holds both classes equally
    order = torch.arange(400).view(2, 200).T.flatten()
    assert inception_score(logits[order], splits=4)[0] == pytest.approx(2.0, rel=1e-9)


# ----------------------------------------------------------------------------------- k-NN manifolds
def test_knn_radii_exclude_the_point_itself():
    x = torch.tensor([[0.0], [1.0], [3.0], [7.0]])
    assert knn_radii(x, 1).tolist() == [1.0, 1.0, 2.0, 4.0]
    assert knn_radii(x, 2).tolist() == [3.0, 2.0, 3.0, 6.0]
    with pytest.raises(ValueError, match="more than k"):
        knn_radii(x, 4)


def test_precision_recall_density_coverage_on_hand_made_points():
    real = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    # k = 1: every real ball has radius 1
    assert precision_recall(real, real.clone(), k=1) == (1.0, 1.0)
    # each point lies in 3 unit balls, but strictly inside only its own (its neighbours are on the boundaries)
    assert density_coverage(real, real.clone(), k=1) == (pytest.approx(1.0), 1.0)
    far = real + 10.0
    assert precision_recall(real, far, k=1) == (0.0, 0.0)
    assert density_coverage(real, far, k=1) == (0.0, 0.0)
    # half the generated points near (0, 0), half far away
    half = torch.tensor([[0.1, 0.0], [0.0, 0.1], [10.0, 10.0], [11.0, 10.0]])
    precision, recall = precision_recall(real, half, k=1)
    assert precision == 0.5
    assert recall == 0.25  # the near pair's balls (radius 0.141) hold only (0, 0); the far pair's none
    density, coverage = density_coverage(real, half, k=1)
    assert coverage == pytest.approx(3 / 4)  # the balls of (0,0), (1,0), (0,1) each hold a generated point
    assert density == pytest.approx((2 + 2) / (1 * 4))  # each near point lies in 2 real balls


def test_mode_statistics_on_hand_made_samples():
    centres = torch.tensor([[math.cos(2 * math.pi * k / 8), math.sin(2 * math.pi * k / 8)] for k in range(8)])
    std = 0.01
    good = torch.cat([centres[0].repeat(10, 1), centres[2].repeat(10, 1), centres[5].repeat(10, 1)])
    good = good + 0.005  # within 3 std (0.03)
    bad = torch.zeros(10, 2)  # the centre of the ring: far from every mode
    stats = mode_statistics(torch.cat([good, bad]), centres, std)
    assert stats["modes"] == 3
    assert stats["high_quality"] == pytest.approx(75.0)
    assert stats["reverse_kl"] == pytest.approx(math.log(8 / 3))
    none = mode_statistics(bad, centres, std)
    assert none["modes"] == 0 and none["high_quality"] == 0 and none["reverse_kl"] == pytest.approx(math.log(8))


def test_histogram_stats():
    modes, kl = histogram_stats(torch.tensor([0, 0, 1, 1, 999, 999]), 1000)
    assert modes == 3 and kl == pytest.approx(math.log(1000 / 3))
    modes, kl = histogram_stats(torch.arange(1000), 1000)
    assert modes == 1000 and kl == pytest.approx(0.0, abs=1e-12)


# ------------------------------------------------------------- agreement with the reference implementations
def reference_inception_score(logits: torch.Tensor, splits: int) -> tuple[float, float]:
    """The original Inception Score code (and torch-fidelity's): split k is ``p[k·N//splits : (k+1)·N//splits]``."""
    p = torch.softmax(logits.double(), dim=1).numpy()
    n = len(p)
    scores = []
    for k in range(splits):
        part = p[k * n // splits : (k + 1) * n // splits]
        py = part.mean(axis=0, keepdims=True)
        scores.append(np.exp((part * (np.log(part) - np.log(py))).sum(axis=1).mean()))
    return float(np.mean(scores)), float(np.std(scores))


@pytest.mark.parametrize(("n", "splits"), [(1001, 10), (12, 5), (1000, 10), (7, 7)])
def test_inception_score_splits_at_the_reference_boundaries(n, splits):
    # N = 12 in 5 splits: torch.chunk makes 4 chunks of 3; the reference makes 5 splits of 2, 2, 3, 2, 3
    logits = torch.randn(n, 20, generator=torch.Generator().manual_seed(n)) * 3
    mean, std = inception_score(logits, splits)
    ref_mean, ref_std = reference_inception_score(logits, splits)
    assert mean == pytest.approx(ref_mean, rel=1e-12)
    assert std == pytest.approx(ref_std, rel=1e-9, abs=1e-12)


def reference_density_coverage(real: torch.Tensor, fake: torch.Tensor, k: int) -> tuple[float, float]:
    """Naeem et al.'s reference (the ``prdc`` package): strict ``<`` against the k-NN radius."""
    r, f = real.double().numpy(), fake.double().numpy()
    real_real = np.linalg.norm(r[:, None] - r[None], axis=-1)
    radii = np.sort(real_real, axis=1)[:, k]  # column 0 is the point itself
    real_fake = np.linalg.norm(r[:, None] - f[None], axis=-1)
    density = (real_fake < radii[:, None]).sum(axis=0).mean() / k
    coverage = (real_fake.min(axis=1) < radii).mean()
    return float(density), float(coverage)


def test_density_coverage_match_the_reference_strict_boundary():
    gen = torch.Generator().manual_seed(0)
    real = torch.randn(300, 3, generator=gen, dtype=torch.float64)
    # a continuous set against itself: each point lies in its own ball and in k − 1 neighbours' balls (the
    # k-th neighbour is on the boundary, outside), so density is exactly 1 (counting the boundary gave 1.2)
    assert density_coverage(real, real.clone(), k=5) == (pytest.approx(1.0, abs=1e-12), 1.0)
    fake = torch.randn(200, 3, generator=gen, dtype=torch.float64) * 1.3
    ours = density_coverage(real, fake, k=5)
    assert ours == pytest.approx(reference_density_coverage(real, fake, 5), abs=1e-12)
    # duplicated points: every radius is 0, so no ball holds anything (the reference's value; ≤ counted 6/5)
    dup = real[:50].repeat(6, 1)
    assert density_coverage(dup, dup.clone(), k=5) == reference_density_coverage(dup, dup, 5) == (0.0, 0.0)
    half_dup = torch.cat([real[:100], real[:100]])
    assert density_coverage(half_dup, fake, k=5) == pytest.approx(reference_density_coverage(half_dup, fake, 5))


def test_precision_recall_keep_the_boundary_like_kynkaanniemis_code():
    # k = 1 radii: 1, 1, 2. A generated point at distance exactly 1 from real point 0 is inside its ball
    real = torch.tensor([[0.0], [1.0], [3.0]])
    assert precision_recall(real, torch.tensor([[-1.0], [-1.0]]), k=1)[0] == 1.0


def test_kid_with_fewer_samples_than_the_subset_size_uses_half_the_smaller_set():
    """A subset as large as the set is the set itself: the same value 100 times and a std of ~1e-15. Subsets
    of half the smaller set differ, so the std measures something."""
    gen = torch.Generator().manual_seed(0)
    real = torch.randn(300, 16, generator=gen, dtype=torch.float64)
    fake = torch.randn(250, 16, generator=gen, dtype=torch.float64) + 0.3
    result = kernel_inception_distance(real, fake, subsets=100, subset_size=1000)
    assert result.subset_size == 125
    assert result.std is not None and result.std > 0.05 * abs(result.mean)
    whole = float(polynomial_mmd2_unbiased(real, fake))
    assert result.mean == pytest.approx(whole, rel=0.05)  # the average of unbiased estimates: about the same
    assert kernel_inception_distance(real, fake, subsets=3, subset_size=100).subset_size == 100
    # one subset has no spread: no std rather than a meaningless 0
    assert kernel_inception_distance(real, fake, subsets=1, subset_size=100).std is None
    with pytest.raises(ValueError, match="at least 4 samples"):
        kernel_inception_distance(real[:3], fake, subsets=2)


# ------------------------------------------------------------------- Fréchet distance with fewer samples
def centred_features(n: int, dim: int, seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    mixing = torch.randn(dim, dim, generator=gen, dtype=torch.float64) / math.sqrt(dim)
    return torch.randn(n, dim, generator=gen, dtype=torch.float64) @ mixing + torch.rand(dim, generator=gen)


@pytest.mark.parametrize(("n1", "n2"), [(40, 60), (60, 40), (40, 400), (400, 40), (2, 3)])
def test_trace_sqrt_product_with_fewer_samples_than_dimensions_is_exact(n1, n2):
    """With centred features A (n₁×d), B (n₂×d), Σ₁Σ₂ = AᵀA BᵀB / ((n₁−1)(n₂−1)) has the non-zero eigenvalues
    of M Mᵀ, M = A Bᵀ / √((n₁−1)(n₂−1)): Tr((Σ₁Σ₂)^{1/2}) is the sum of the singular values of M — exact, and
    what the low-rank path must reproduce far below the round-off of a d×d square root."""
    dim = 128
    f1, f2 = centred_features(n1, dim, 1), centred_features(n2, dim, 2)
    a, b = f1 - f1.mean(0), f2 - f2.mean(0)
    exact = float(torch.linalg.svdvals(a @ b.T).sum()) / math.sqrt((n1 - 1) * (n2 - 1))
    (mu1, s1), (mu2, s2) = gaussian_stats(f1), gaussian_stats(f2)
    assert trace_sqrt_product(s1, s2) == pytest.approx(exact, rel=1e-10)
    ours = frechet_distance(mu1, s1, mu2, s2)
    ref = frechet_distance_sqrtm(mu1.numpy(), s1.numpy(), mu2.numpy(), s2.numpy())
    assert abs(ours - ref) / abs(ref) < 1e-6


def test_trace_sqrt_product_edge_cases():
    zero = torch.zeros(5, 5, dtype=torch.float64)
    assert trace_sqrt_product(zero, random_spd(5, 1)) == 0.0
    assert trace_sqrt_product(random_spd(5, 1), zero) == 0.0
    nan = random_spd(5, 1).clone()
    nan[0, 0] = float("nan")
    assert math.isnan(trace_sqrt_product(nan, random_spd(5, 2)))


@pytest.mark.slow
def test_fid_with_fewer_samples_than_dimensions_is_ten_times_faster_than_sqrtm():
    import time

    dim, n = 1024, 200
    (mu1, s1), (mu2, s2) = gaussian_stats(centred_features(n, dim, 1)), gaussian_stats(centred_features(n, dim, 2))
    args = (mu1.numpy(), s1.numpy(), mu2.numpy(), s2.numpy())
    frechet_distance(mu1, s1, mu2, s2)  # warm-up
    ours, ref = [], []
    for _ in range(3):
        start = time.perf_counter()
        frechet_distance(mu1, s1, mu2, s2)
        ours.append(time.perf_counter() - start)
        start = time.perf_counter()
        frechet_distance_sqrtm(*args)
        ref.append(time.perf_counter() - start)
    assert sorted(ref)[1] > 10 * sorted(ours)[1]


def reference_precision_recall(real: torch.Tensor, fake: torch.Tensor, k: int) -> tuple[float, float]:
    """Kynkäänniemi et al.'s definition with their ``≤``, on exact pairwise differences."""
    r, f = real.double().numpy(), fake.double().numpy()
    radii_r = np.sort(np.linalg.norm(r[:, None] - r[None], axis=-1), axis=1)[:, k]
    radii_f = np.sort(np.linalg.norm(f[:, None] - f[None], axis=-1), axis=1)[:, k]
    real_fake = np.linalg.norm(r[:, None] - f[None], axis=-1)
    return float((real_fake <= radii_r[:, None]).any(axis=0).mean()), float((real_fake <= radii_f).any(axis=1).mean())


@pytest.mark.parametrize("dim", [2, 8, 64])
def test_knn_metrics_decide_ties_like_the_references(dim):
    """Features on a coarse grid: most distances tie with some radius, duplicates abound. Matrix-product
    distances carry round-off that flips such ties at random; the decisions must match exact distances."""
    gen = torch.Generator().manual_seed(dim)
    real = torch.randint(0, 4, (300, dim), generator=gen).float() * 0.37
    fake = torch.randint(0, 4, (250, dim), generator=gen).float() * 0.37
    assert density_coverage(real, fake, 5) == pytest.approx(reference_density_coverage(real, fake, 5), abs=1e-12)
    assert precision_recall(real, fake, 3) == pytest.approx(reference_precision_recall(real, fake, 3), abs=1e-12)
