"""The mathematics of the feature metrics, on plain tensors (THEORY.md §4); no sampling, no extractors.

* Fréchet distance (FID) between Gaussians ``N(μ₁, Σ₁)`` and ``N(μ₂, Σ₂)``:
  ``‖μ₁ − μ₂‖² + Tr Σ₁ + Tr Σ₂ − 2 Tr((Σ₁Σ₂)^{1/2})``. ``Σ₁Σ₂`` is similar to a symmetric positive
  semi-definite matrix (``Lᵀ Σ₂ L`` with ``Σ₁ = L Lᵀ``), so ``Tr((Σ₁Σ₂)^{1/2})`` is the sum of the square
  roots of its eigenvalues: a Cholesky factorisation, a symmetric reduction and a symmetric eigenvalue solve
  in float64 instead of a general (Schur-based, complex) matrix square root — an order of magnitude faster
  than ``scipy.linalg.sqrtm`` and free of its spurious imaginary parts.
* KID: the unbiased estimator of MMD² with the kernel ``k(x, y) = (x·y/d + 1)³``, averaged over subsets.
* Inception Score: ``exp(E_x KL(p(y|x) ‖ p(y)))`` per split; mean and standard deviation over splits.
* Precision/recall (Kynkäänniemi et al. 2019) and density/coverage (Naeem et al. 2020) from k-NN balls.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor


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


def _psd_sqrt(sigma: Tensor) -> Tensor:
    """Square root of a symmetric positive semi-definite matrix (negative round-off eigenvalues clipped)."""
    w, v = torch.linalg.eigh(sigma)
    return (v * w.clamp(min=0).sqrt()) @ v.T


def trace_sqrt_product(sigma1: Tensor, sigma2: Tensor) -> float:
    """``Tr((Σ₁Σ₂)^{1/2})``: the sum of square roots of the eigenvalues of a symmetric matrix similar to ``Σ₁Σ₂``.

    With the Cholesky factor ``Σ₁ = L Lᵀ``, ``Σ₁Σ₂ = L (Lᵀ Σ₂ L) L⁻¹``, so only the eigen*values* of the
    symmetric ``Lᵀ Σ₂ L`` are needed (no eigenvectors). That is LAPACK's symmetric-definite generalised
    problem ``Σ₂Σ₁x = λx`` (``itype = 2``: ``potrf``, ``sygst``, ``syev``), which uses the symmetry of every
    step. A singular ``Σ₁`` (fewer samples than dimensions) has no Cholesky factor; then the eigenvalues of
    ``Σ₁^{1/2} Σ₂ Σ₁^{1/2}`` are used, with ``Σ₁^{1/2}`` from a symmetric eigendecomposition. Float64 on the
    CPU throughout."""
    from scipy import linalg

    s1, s2 = sigma1.double().cpu(), sigma2.double().cpu()
    try:
        eig = linalg.eigh(s2.numpy(), s1.numpy(), type=2, eigvals_only=True, driver="gv", check_finite=False)
    except linalg.LinAlgError:  # Σ₁ is not positive definite
        root = _psd_sqrt(s1)
        m = root @ s2 @ root
        eig = torch.linalg.eigvalsh((m + m.T) / 2).numpy()  # symmetrised against round-off
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


def kernel_inception_distance(
    real: Tensor, fake: Tensor, subsets: int = 100, subset_size: int = 1000, seed: int = 0
) -> tuple[float, float]:
    """KID: mean and standard deviation of the unbiased MMD² over ``subsets`` random subsets (without
    replacement within a subset) of ``min(subset_size, len(real), len(fake))`` samples each, in float64."""
    size = min(subset_size, len(real), len(fake))
    if size < 2:
        raise ValueError(f"KID needs at least 2 samples per set, got {len(real)} real and {len(fake)} generated")
    gen = torch.Generator().manual_seed(seed)
    real, fake = float64(real), float64(fake)
    values = []
    for _ in range(subsets):
        i = torch.randperm(len(real), generator=gen)[:size].to(real.device)
        j = torch.randperm(len(fake), generator=gen)[:size].to(fake.device)
        values.append(polynomial_mmd2_unbiased(real[i], fake[j]))
    v = torch.stack(values).cpu()
    return float(v.mean()), float(v.std(unbiased=False)) if len(v) > 1 else 0.0


# ---------------------------------------------------------------------------------------------- IS
def inception_score(logits: Tensor, splits: int = 10) -> tuple[float, float]:
    """Mean and standard deviation over ``splits`` of ``exp(E_x KL(p(y|x) ‖ p(y)))`` from class ``logits``.
    Bounds: 1 (every prediction the same) to the number of classes (confident and evenly spread)."""
    splits = max(1, min(splits, len(logits)))
    log_p = float64(logits).log_softmax(dim=1)
    scores = []
    for part in log_p.chunk(splits):
        log_py = torch.logsumexp(part, dim=0) - math.log(len(part))  # log of the mean prediction
        kl = (part.exp() * (part - log_py)).sum(dim=1).mean()
        scores.append(kl.exp())
    s = torch.stack(scores).cpu()
    return float(s.mean()), float(s.std(unbiased=False)) if len(s) > 1 else 0.0


# ----------------------------------------------------------------------------------- k-NN manifolds
def _chunks(n: int, size: int) -> range:
    return range(0, n, size)


def knn_radii(x: Tensor, k: int, chunk: int = 2048) -> Tensor:
    """Distance from each row of ``x`` to its ``k``-th nearest *other* row (the radius of its k-NN ball)."""
    if len(x) <= k:
        raise ValueError(f"need more than k = {k} samples for k-NN radii, got {len(x)}")
    x = x.float()
    radii = []
    for i in _chunks(len(x), chunk):
        d = torch.cdist(x[i : i + chunk], x)
        radii.append(d.topk(k + 1, dim=1, largest=False).values[:, k])  # index 0 is the point itself
    return torch.cat(radii)


def _within_counts(queries: Tensor, centres: Tensor, radii: Tensor, chunk: int = 2048) -> Tensor:
    """For each query, how many balls ``B(centres[i], radii[i])`` contain it (boundary included)."""
    counts = []
    centres = centres.float()
    for i in _chunks(len(queries), chunk):
        d = torch.cdist(queries[i : i + chunk].float(), centres)
        counts.append((d <= radii[None, :]).sum(dim=1))
    return torch.cat(counts)


def _covered(centres: Tensor, radii: Tensor, queries: Tensor, chunk: int = 2048) -> Tensor:
    """For each centre, whether any query lies in its ball."""
    covered = []
    queries = queries.float()
    for i in _chunks(len(centres), chunk):
        d = torch.cdist(centres[i : i + chunk].float(), queries)
        covered.append((d <= radii[i : i + chunk, None]).any(dim=1))
    return torch.cat(covered)


def precision_recall(real: Tensor, fake: Tensor, k: int = 3) -> tuple[float, float]:
    """Precision: share of generated samples inside the real manifold (the union of real k-NN balls);
    recall: share of real samples inside the generated manifold."""
    precision = _within_counts(fake, real, knn_radii(real, k)) > 0
    recall = _within_counts(real, fake, knn_radii(fake, k)) > 0
    return float(precision.float().mean()), float(recall.float().mean())


def density_coverage(real: Tensor, fake: Tensor, k: int = 5) -> tuple[float, float]:
    """Density: how many real k-NN balls contain each generated sample, over ``k`` (1 on average when the
    distributions match; above 1 when samples crowd dense regions); coverage: share of real samples whose
    k-NN ball holds at least one generated sample."""
    radii = knn_radii(real, k)
    density = _within_counts(fake, real, radii).double().sum() / (k * len(fake))
    coverage = _covered(real, radii, fake).double().mean()
    return float(density), float(coverage)
