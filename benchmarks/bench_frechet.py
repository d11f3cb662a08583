"""Fréchet distance: gankit's symmetric-eigenvalue form against ``scipy.linalg.sqrtm`` on 2048-d statistics.

gankit computes ``Tr((Σ₁Σ₂)^{1/2})`` from pivoted Cholesky factors ``Σᵢ = Fᵢ Fᵢᵀ`` (which reveal the rank):
with both of full rank, the symmetric eigenvalues of ``F₂ᵀ Σ₁ F₂`` (LAPACK ``sygst`` + ``syev``); with fewer
samples than dimensions (rank ``r < D``), the eigenvalues of an ``r × r`` matrix or the singular values of
``F₁ᵀF₂`` — float64 throughout. The usual implementation (pytorch-fid) takes the general matrix square root of
``Σ₁Σ₂`` with scipy. Both run on the same statistics of synthetic 2048-d features (a random linear map of
Gaussian noise, like pool3 features: correlated), in alternation, for three cases: both sets larger than the
dimension (full rank), both smaller (``n < d``, e.g. ``eval`` on folders of 1,000 images), and one of each.
The table reports median wall times, the speed ratio within the run and the relative difference of the two
FIDs (the script fails above 1e-6).

    python benchmarks/bench_frechet.py [--quick] [--repeats 3] [--dim 2048] [--samples 10000] [--few 1000]
                                       [--threads N] [--write]

On a machine shared with other jobs, multi-threaded LAPACK can slow down by 10× (threads spin at barriers
while the cores are busy elsewhere): compare with ``--threads 1`` there.
"""

from __future__ import annotations

import argparse
import os
import time
from typing import Any

from common import median, report


def synthetic_stats(n: int, dim: int, seed: int) -> tuple[Any, Any]:
    import torch

    from gankit.metrics.stats import gaussian_stats

    gen = torch.Generator().manual_seed(seed)
    mixing = torch.randn(dim, dim, generator=gen, dtype=torch.float64) / dim**0.5
    features = torch.randn(n, dim, generator=gen, dtype=torch.float64) @ mixing + torch.rand(dim, generator=gen)
    return gaussian_stats(features)


def timed(fns: dict[str, Any], repeats: int) -> dict[str, tuple[float, float]]:
    """Median time and value of each function, run in alternation so machine noise hits them alike."""
    times: dict[str, list[float]] = {name: [] for name in fns}
    values: dict[str, float] = {}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            values[name] = fn()
            times[name].append(time.perf_counter() - start)
    return {name: (median(times[name]), values[name]) for name in fns}


def compare(stats1: tuple[Any, Any], stats2: tuple[Any, Any], repeats: int) -> tuple[float, float, float, float]:
    """``(time sqrtm, FID sqrtm, time gankit, FID gankit)``, medians over ``repeats`` alternating runs."""
    from gankit.metrics.stats import frechet_distance, frechet_distance_sqrtm

    (mu1, s1), (mu2, s2) = stats1, stats2
    np_args = (mu1.numpy(), s1.numpy(), mu2.numpy(), s2.numpy())
    frechet_distance(mu1, s1, mu2, s2)  # warm-up: LAPACK workspaces, thread pools
    results = timed({"eig": lambda: frechet_distance(mu1, s1, mu2, s2),
                     "sqrtm": lambda: frechet_distance_sqrtm(*np_args)}, repeats)
    return (*results["sqrtm"], *results["eig"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="1 repeat, 4,096 samples in the full-rank sets")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--dim", type=int, default=2048)
    parser.add_argument("--samples", type=int, default=10_000, help="features per full-rank set (more than --dim)")
    parser.add_argument("--few", type=int, default=1000, help="features per n < d set (fewer than --dim)")
    parser.add_argument("--threads", type=int, default=None,
                        help="BLAS/OpenMP threads for both implementations (default: the environment's)")
    parser.add_argument("--write", action="store_true", help="append the result to benchmarks/results/HISTORY.md")
    args = parser.parse_args()
    if args.threads:  # before numpy/torch start their thread pools
        for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
            os.environ[var] = str(args.threads)
    import torch

    repeats = 1 if args.quick else args.repeats
    n = 4096 if args.quick else args.samples
    if not args.few < args.dim < n:
        raise SystemExit(f"need --few < --dim < --samples, got {args.few}, {args.dim}, {n}")
    many = synthetic_stats(n, args.dim, seed=1), synthetic_stats(n, args.dim, seed=2)
    few = synthetic_stats(args.few, args.dim, seed=3), synthetic_stats(args.few, args.dim, seed=4)
    cases = [(f"{n:,} and {n:,} (n > d)", many[0], many[1]),
             (f"{args.few:,} and {args.few:,} (n < d)", few[0], few[1]),
             (f"{n:,} and {args.few:,} (one n < d)", many[0], few[1])]
    lines = ["| samples per set | implementation | median time (s) | FID | speed-up | relative difference |",
             "| --- | --- | --- | --- | --- | --- |"]
    worst = 0.0
    for label, stats1, stats2 in cases:
        t_sqrtm, fid_sqrtm, t_eig, fid_eig = compare(stats1, stats2, repeats)
        rel = abs(fid_eig - fid_sqrtm) / abs(fid_sqrtm)
        worst = max(worst, rel)
        lines += [f"| {label} | scipy.linalg.sqrtm (pytorch-fid) | {t_sqrtm:.3f} | {fid_sqrtm:.6f} | 1.0× | |",
                  f"| {label} | gankit symmetric eigenvalues (float64) | {t_eig:.3f} | {fid_eig:.6f} | "
                  f"{t_sqrtm / t_eig:.1f}× | {rel:.1e} |"]
    body = (f"{args.dim}-d statistics of synthetic samples, {repeats} repeat(s), {torch.get_num_threads()} "
            "thread(s); speed-ups are ratios within this run.\n\n" + "\n".join(lines))
    print(report("Fréchet distance: eigenvalues vs sqrtm", body, args.write))
    if worst > 1e-6:
        raise SystemExit(f"the two FIDs differ by {worst:.2e} (relative), more than 1e-6")


if __name__ == "__main__":
    main()
