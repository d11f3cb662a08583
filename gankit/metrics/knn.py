"""k-NN manifold metrics: precision/recall (Kynkäänniemi et al. 2019) and density/coverage (Naeem et al. 2020).

Every decision compares a distance with a k-NN radius, and ties are real: a set against itself puts each
point's k-th neighbour exactly on its ball's boundary, duplicated points have radius 0. The reference codes
decide ties by their comparison (``≤`` for precision/recall, ``<`` for density/coverage), so ties must be
decided on exact, symmetric distances. Matrix-product distances (``‖a‖² + ‖b‖² − 2a·b``) are fast but
carry round-off that differs between ``d(a, b)`` and ``d(b, a)`` and is not 0 for ``d(a, a)``; so distances
are computed that way in float64 and every comparison that round-off could flip (within a rigorous bound of
the radius) is redone on ``Σ (aᵢ − bᵢ)²``, which is symmetric and exactly 0 for equal points. Few pairs
are that close, so the cost stays that of the matrix products.
"""

from __future__ import annotations

import torch
from torch import Tensor

CHUNK = 1024


def _float64(t: Tensor) -> Tensor:
    return (t.cpu() if t.device.type == "mps" else t).detach().double()


def _product_sq_dists(a: Tensor, b: Tensor, minus: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """Squared distances by matrix product (less ``minus[j]`` from column ``j`` when given, in the same pass),
    and per row of ``a`` a bound on their round-off: each of ``‖a‖²``, ``‖b‖²``, ``2a·b`` is a sum of ``D``
    products (error ``≤ D·ε`` times its magnitude) and the few additions (``minus`` included: a squared radius,
    at most ``4·max‖b‖²``) add ``≤ 5ε·(‖a‖ + ‖b‖)²`` each, so ``(D + 24)·ε·(‖a‖ + max‖b‖)²`` bounds the error
    (one number per row, no second matrix). Not clamped at 0: values within the bound are recomputed anyway."""
    an, bn = (a * a).sum(1), (b * b).sum(1)
    sq = torch.addmm(bn[None, :] if minus is None else (bn - minus)[None, :], a, b.T, alpha=-2.0).add_(an[:, None])
    bound = (a.shape[1] + 24) * torch.finfo(torch.float64).eps * (an.sqrt() + bn.max().sqrt()) ** 2
    return sq, bound


def _exact_sq_dists(a: Tensor, b: Tensor, i: Tensor, j: Tensor) -> Tensor:
    """``Σ (a[i] − b[j])²`` for the pairs ``(i, j)``: symmetric in its arguments and 0 for equal rows."""
    out = torch.empty(len(i), dtype=torch.float64, device=a.device)
    for s in range(0, len(i), CHUNK):
        out[s : s + CHUNK] = ((a[i[s : s + CHUNK]] - b[j[s : s + CHUNK]]) ** 2).sum(1)
    return out


#: neighbours beyond the k-th whose exact distances are computed with it (ties beyond these: dense fallback)
SPARE = 8


def knn_sq_radii(x: Tensor, k: int) -> Tensor:
    """Exact squared distance from each row of ``x`` (float64) to its ``k``-th nearest *other* row.

    The ``k + 1`` smallest exact values (the point itself included) lie among the pairs within twice the
    round-off bound of the ``(k+1)``-th smallest product value: those are recomputed exactly. Usually they are
    the ``k + 1`` nearest by product; the ``k + 1 + SPARE`` nearest are taken, and rows with more candidates
    (many duplicates) are redone over all pairs."""
    if len(x) <= k:
        raise ValueError(f"need more than k = {k} samples for k-NN radii, got {len(x)}")
    radii = []
    take = min(len(x), k + 1 + SPARE)
    for s in range(0, len(x), CHUNK):
        rows = x[s : s + CHUNK]
        sq, bound = _product_sq_dists(rows, x)
        values, cols = sq.topk(take, dim=1, largest=False)
        limit = values[:, k] + 2.0 * bound
        i = torch.arange(len(rows), device=x.device)[:, None].expand_as(cols)
        exact = _exact_sq_dists(rows, x, i.flatten(), cols.flatten()).view_as(values)
        exact = torch.where(values <= limit[:, None], exact, torch.inf)
        radius = exact.topk(k + 1, dim=1, largest=False).values[:, k]
        crowded = (values[:, -1] <= limit).nonzero().flatten() if take < len(x) else cols[:0, 0]
        for r in crowded.tolist():  # candidates beyond the spares: every pair of that row
            c = (sq[r] <= limit[r]).nonzero().flatten()
            row_exact = _exact_sq_dists(rows, x, torch.full_like(c, r), c)
            radius[r] = row_exact.topk(k + 1, largest=False).values[k]
        radii.append(radius)
    return torch.cat(radii)


def knn_radii(x: Tensor, k: int) -> Tensor:
    """Distance from each row of ``x`` to its ``k``-th nearest *other* row (the radius of its k-NN ball)."""
    return knn_sq_radii(_float64(x), k).sqrt()


def _inside(queries: Tensor, centres: Tensor, sq_radii: Tensor, strict: bool) -> Tensor:
    """``inside[q, c]``: whether query ``q`` lies in the ball of centre ``c`` (``<`` its radius when ``strict``,
    ``≤`` otherwise), decided on exact distances wherever round-off could flip the product's answer."""
    margin, bound = _product_sq_dists(queries, centres, minus=sq_radii)  # distance² − radius²: its sign answers
    inside = margin < 0 if strict else margin <= 0
    i, j = (margin.abs_() <= bound[:, None]).nonzero(as_tuple=True)
    if len(i):
        exact = _exact_sq_dists(queries, centres, i, j)
        inside[i, j] = exact < sq_radii[j] if strict else exact <= sq_radii[j]
    return inside


def _ball_counts(queries: Tensor, centres: Tensor, sq_radii: Tensor, strict: bool) -> tuple[Tensor, Tensor]:
    """For each query, how many balls contain it; for each centre, whether its ball holds any query."""
    counts, covered = [], torch.zeros(len(centres), dtype=torch.bool, device=centres.device)
    for s in range(0, len(queries), CHUNK):
        inside = _inside(queries[s : s + CHUNK], centres, sq_radii, strict)
        counts.append(inside.sum(dim=1))
        covered |= inside.any(dim=0)
    return torch.cat(counts), covered


def precision_recall(real: Tensor, fake: Tensor, k: int = 3) -> tuple[float, float]:
    """Precision: share of generated samples inside the real manifold (the union of real k-NN balls);
    recall: share of real samples inside the generated manifold.

    A sample on a ball's boundary (distance ``≤`` radius) is inside, as in Kynkäänniemi et al.'s code
    (``distance_batch <= radii``); the ``prdc`` package uses ``<``, which differs only on ties."""
    real, fake = _float64(real), _float64(fake)
    precision = _ball_counts(fake, real, knn_sq_radii(real, k), strict=False)[0] > 0
    recall = _ball_counts(real, fake, knn_sq_radii(fake, k), strict=False)[0] > 0
    return float(precision.double().mean()), float(recall.double().mean())


def density_coverage(real: Tensor, fake: Tensor, k: int = 5) -> tuple[float, float]:
    """Density: how many real k-NN balls contain each generated sample, over ``k`` (1 on average when the
    distributions match; above 1 when samples crowd dense regions); coverage: share of real samples whose
    k-NN ball holds at least one generated sample.

    "Contains" is strict (distance ``<`` radius), as in Naeem et al.'s reference code (``prdc``): a set
    against itself then has density exactly 1 (each point lies in its own ball and in those of the neighbours
    that count it among their k − 1 nearest; the k-th neighbour sits on the boundary). Counting the boundary
    gave (k + 1)/k, and for duplicated points (zero radii) it counted every copy."""
    real, fake = _float64(real), _float64(fake)
    counts, covered = _ball_counts(fake, real, knn_sq_radii(real, k), strict=True)
    return float(counts.double().sum() / (k * len(fake))), float(covered.double().mean())
