"""The mathematics of the feature metrics, on plain tensors (THEORY.md §4); no sampling, no extractors.

* Fréchet distance (FID) between Gaussians ``N(μ₁, Σ₁)`` and ``N(μ₂, Σ₂)``:
  ``‖μ₁ − μ₂‖² + Tr Σ₁ + Tr Σ₂ − 2 Tr((Σ₁Σ₂)^{1/2})``. ``Σ₁Σ₂`` is similar to a symmetric positive
  semi-definite matrix (``Lᵀ Σ₂ L`` with ``Σ₁ = L Lᵀ``), so ``Tr((Σ₁Σ₂)^{1/2})`` is the sum of the square
  roots of its eigenvalues: pivoted Cholesky factorisations (which also reveal the rank: ``≤ n − 1`` for ``n``
  samples), then symmetric eigenvalues of a ``D × D`` matrix — or of an ``r × r`` one, or singular values of
  ``F₁ᵀF₂``, when a covariance has rank ``r < D`` — in float64, instead of a general (Schur-based, complex)
  matrix square root: an order of magnitude faster than ``scipy.linalg.sqrtm``, free of its spurious
  imaginary parts, and exact in the span of the data when there are fewer samples than dimensions.
* KID: the unbiased estimator of MMD² with the kernel ``k(x, y) = (x·y/d + 1)³``, averaged over subsets of
  at most half the smaller set.
* Inception Score: ``exp(E_x KL(p(y|x) ‖ p(y)))`` per split (the original code's split boundaries); mean and
  standard deviation over splits.
* Precision/recall (Kynkäänniemi et al. 2019) and density/coverage (Naeem et al. 2020) from k-NN balls:
  :mod:`gankit.metrics.knn`.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor

# the k-NN manifold metrics live in their own module; re-exported here with the other metrics
from gankit.metrics.knn import density_coverage as density_coverage
from gankit.metrics.knn import knn_radii as knn_radii
from gankit.metrics.knn import precision_recall as precision_recall


def float64(t: Tensor) -> Tensor:
    """``t`` in float64, on the CPU when its device has no float64 (Apple's MPS)."""
    return (t.cpu() if t.device.type == "mps" else t).double()


# --------------------------------------------------------------------------------------------- FID
def gaussian_stats(features: Tensor) -> tuple[Tensor, Tensor]:
    """Mean and (unbiased, ``n − 1``) covariance of ``features`` ``(N, D)``, in float64 on the CPU
    (float64 is slow or missing on some accelerators; these are D×D matrices, not N×D)."""
    f = features.detach().to("cpu", torch.float64)
    if len(f) < 2:
        raise ValueError(f"need at least 2 samples for a covariance, got {len(f)}")
    mu = f.mean(dim=0)
    centred = f - mu
    sigma = centred.T @ centred / (len(f) - 1)
    return mu, sigma


def rank_tolerance(sigma: np.ndarray) -> float:
    """Pivots below ``D·ε·max(diag)`` are round-off: LAPACK's default tolerance for a rank-revealing Cholesky."""
    return len(sigma) * float(np.finfo(np.float64).eps) * max(float(np.diag(sigma).max()), 0.0)


def pivoted_cholesky(sigma: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """``(L, perm, rank)`` with ``sigma[perm][:, perm] = L Lᵀ`` and ``L`` lower trapezoidal ``(D, rank)``.

    LAPACK's ``pstrf`` stops when the largest remaining pivot is below :func:`rank_tolerance`, so a covariance
    of ``n < D`` samples (rank ``≤ n − 1``) gets a ``D × rank`` factor in ``O(D·rank²)``: the rank the data
    has, not the round-off noise a ``D × D`` decomposition would find in its null space."""
    from scipy.linalg import lapack

    c, piv, rank, info = lapack.dpstrf(sigma, lower=1, tol=-1.0)
    if info < 0:
        raise ValueError(f"pivoted Cholesky: illegal argument {-info}")
    return np.tril(c[:, :rank]), piv - 1, int(rank)


def cholesky_factor(sigma: np.ndarray) -> tuple[np.ndarray, np.ndarray | None, int]:
    """Like :func:`pivoted_cholesky` (``perm`` ``None``: no permutation). The plain Cholesky (``potrf``) is
    tried first, being faster; it is kept only when it succeeds with every pivot above the rank tolerance, so a
    numerically singular covariance always gets its rank-revealing factor."""
    from scipy.linalg import lapack

    c, info = lapack.dpotrf(sigma, lower=1, clean=1)
    if info == 0 and float(np.diag(c).min()) ** 2 > rank_tolerance(sigma):
        return c, None, len(sigma)
    return pivoted_cholesky(sigma)


def trace_sqrt_product(sigma1: Tensor, sigma2: Tensor) -> float:
    """``Tr((Σ₁Σ₂)^{1/2})``: the sum of square roots of the eigenvalues of ``Σ₁Σ₂``, which are real and
    non-negative because ``Σ₁Σ₂`` is similar to a symmetric positive semi-definite matrix.

    Both covariances are factored (:func:`cholesky_factor`), ``Σᵢ = Fᵢ Fᵢᵀ`` with ``Fᵢ`` of ``D × rᵢ`` (``rᵢ``:
    the numerical rank), and the non-zero eigenvalues of ``Σ₁Σ₂ = F₁ (F₁ᵀ Σ₂)`` are those of ``F₁ᵀ Σ₂ F₁``:

    * both full rank: the eigenvalues of the symmetric ``F₁ᵀ Σ₂ F₁`` (LAPACK ``sygst`` then ``syev``, values
      only) — an order of magnitude faster than ``scipy.linalg.sqrtm``'s Schur-based square root;
    * one of rank ``r < D`` (fewer samples than dimensions): the eigenvalues of the ``r × r`` matrix
      ``Fᵀ Σ F`` of the low-rank factor ``F`` and the other covariance ``Σ``;
    * both of low rank: ``F₁ᵀ Σ₂ F₁ = (F₁ᵀF₂)(F₁ᵀF₂)ᵀ``, so the trace is the sum of the singular values of the
      ``r₁ × r₂`` matrix ``F₁ᵀF₂`` (with centred features ``A``, ``B`` that is ``‖A Bᵀ‖_* / √((n₁−1)(n₂−1))``).

    Working in the span of the data is faster than any ``D × D`` decomposition, and exact: the null-space
    round-off of a ``D × D`` method (whose clipped square roots add up) never enters. Float64 on the CPU
    throughout; non-finite covariances give ``nan``."""
    from scipy import linalg
    from scipy.linalg import lapack

    s1 = sigma1.detach().to("cpu", torch.float64).numpy()
    s2 = sigma2.detach().to("cpu", torch.float64).numpy()
    if not (np.isfinite(s1).all() and np.isfinite(s2).all()):
        return float("nan")
    dim = len(s1)
    l1, p1, r1 = cholesky_factor(s1)
    l2, p2, r2 = cholesky_factor(s2)
    if min(r1, r2) == 0:
        return 0.0
    if r1 == r2 == dim:  # Σ₂ permuted like Σ₁'s factor: eigenvalues of L₁ᵀ (P₁ᵀ Σ₂ P₁) L₁
        c, info = lapack.dsygst(s2 if p1 is None else s2[np.ix_(p1, p1)], l1, itype=2, lower=1)
        if info != 0:
            raise ValueError(f"sygst: illegal argument {-info}")
        eig = linalg.eigh(c, lower=True, eigvals_only=True, driver="ev", check_finite=False)
    elif r1 < dim and r2 < dim:
        f1, f2 = np.empty_like(l1), np.empty_like(l2)
        f1[p1], f2[p2] = l1, l2  # F = P L (both pivoted: neither has full rank)
        return float(linalg.svdvals(f1.T @ f2, check_finite=False).sum())
    else:
        low, perm, other = (l1, p1, s2) if r1 < dim else (l2, p2, s1)
        m = low.T @ other[np.ix_(perm, perm)] @ low  # type: ignore[index]
        eig = linalg.eigh((m + m.T) / 2, eigvals_only=True, driver="ev", check_finite=False)
    return float(np.sqrt(np.clip(eig, 0.0, None)).sum())


def frechet_distance(mu1: Tensor, sigma1: Tensor, mu2: Tensor, sigma2: Tensor) -> float:
    """The Fréchet distance between two Gaussians (float64 throughout)."""
    mu1, mu2 = mu1.double().cpu(), mu2.double().cpu()
    sigma1, sigma2 = sigma1.double().cpu(), sigma2.double().cpu()
    diff = mu1 - mu2
    tr = float(torch.trace(sigma1) + torch.trace(sigma2))
    return float(diff @ diff) + tr - 2.0 * trace_sqrt_product(sigma1, sigma2)


def frechet_distance_sqrtm(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """The usual implementation (pytorch-fid's ``calculate_frechet_distance``) with ``scipy.linalg.sqrtm``,
    kept as the reference for tests and ``benchmarks/bench_frechet.py``; gankit itself never calls it."""
    from scipy import linalg

    diff = mu1 - mu2
    covmean = linalg.sqrtm(sigma1.dot(sigma2))
    if not np.isfinite(covmean).all():
        offset = np.eye(sigma1.shape[0]) * 1e-6
        covmean = linalg.sqrtm((sigma1 + offset).dot(sigma2 + offset))
    if np.iscomplexobj(covmean):
        covmean = covmean.real
    return float(diff.dot(diff) + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean))


# --------------------------------------------------------------------------------------------- KID
def polynomial_mmd2_unbiased(x: Tensor, y: Tensor) -> Tensor:
    """Unbiased MMD² between samples ``x`` ``(m, d)`` and ``y`` ``(n, d)`` with ``k(a, b) = (a·b/d + 1)³``:
    the within-set kernel means leave out the diagonal (``i = j``), which is what removes the bias."""
    d = x.shape[1]
    m, n = len(x), len(y)
    k_xx = (x @ x.T / d + 1) ** 3
    k_yy = (y @ y.T / d + 1) ** 3
    k_xy = (x @ y.T / d + 1) ** 3
    sum_xx = (k_xx.sum() - k_xx.diagonal().sum()) / (m * (m - 1))
    sum_yy = (k_yy.sum() - k_yy.diagonal().sum()) / (n * (n - 1))
    return sum_xx + sum_yy - 2 * k_xy.mean()


class KIDResult(NamedTuple):
    """KID's mean over subsets, their standard deviation (``None`` from a single subset: no spread to measure)
    and the subset size actually used."""

    mean: float
    std: float | None
    subset_size: int


def kid_subset_size(subset_size: int, n_real: int, n_fake: int) -> int:
    """The subset size KID uses: ``subset_size``, but at most half the smaller set. A subset as large as the set
    is the set itself (every subset gives the same value, and a std of ~1e-15 that looks precise); at half the
    set, subsets differ and their spread means something. The mean is unaffected: every subset's estimate is
    unbiased whatever its size."""
    return min(subset_size, min(n_real, n_fake) // 2)


def kernel_inception_distance(
    real: Tensor, fake: Tensor, subsets: int = 100, subset_size: int = 1000, seed: int = 0
) -> KIDResult:
    """KID: mean and standard deviation of the unbiased MMD² over ``subsets`` random subsets (without
    replacement within a subset) of :func:`kid_subset_size` samples each, in float64.

    The reference implementations either refuse sets smaller than ``subset_size`` (torch-fidelity,
    torchmetrics) or use the whole set in every subset (clean-fid); here the subsets shrink to half the smaller
    set and the size used is returned, so a caller can report it."""
    size = kid_subset_size(subset_size, len(real), len(fake))
    if size < 2:
        raise ValueError(f"KID needs at least 4 samples per set (subsets of at least 2, at most half a set), got "
                         f"{len(real)} real and {len(fake)} generated")
    gen = torch.Generator().manual_seed(seed)
    real, fake = float64(real), float64(fake)
    values = []
    for _ in range(subsets):
        i = torch.randperm(len(real), generator=gen)[:size].to(real.device)
        j = torch.randperm(len(fake), generator=gen)[:size].to(fake.device)
        values.append(polynomial_mmd2_unbiased(real[i], fake[j]))
    v = torch.stack(values).cpu()
    return KIDResult(float(v.mean()), float(v.std(unbiased=False)) if len(v) > 1 else None, size)


# ---------------------------------------------------------------------------------------------- IS
def inception_score(logits: Tensor, splits: int = 10) -> tuple[float, float]:
    """Mean and standard deviation over ``splits`` of ``exp(E_x KL(p(y|x) ‖ p(y)))`` from class ``logits``.
    Bounds: 1 (every prediction the same) to the number of classes (confident and evenly spread).

    Split ``k`` of ``N`` samples is ``[k·N//splits, (k+1)·N//splits)``, as in the original Inception Score code
    and torch-fidelity, so uneven counts give the same splits (and scores) as theirs."""
    n = len(logits)
    splits = max(1, min(splits, n))
    log_p = float64(logits).log_softmax(dim=1)
    scores = []
    for k in range(splits):  # the original code's boundaries (torch.chunk makes 4 splits of 12 samples, not 5)
        part = log_p[k * n // splits : (k + 1) * n // splits]
        log_py = torch.logsumexp(part, dim=0) - math.log(len(part))  # log of the mean prediction
        kl = (part.exp() * (part - log_py)).sum(dim=1).mean()
        scores.append(kl.exp())
    s = torch.stack(scores).cpu()
    return float(s.mean()), float(s.std(unbiased=False)) if len(s) > 1 else 0.0
