"""Fréchet distance: gankit's symmetric-eigenvalue form against ``scipy.linalg.sqrtm`` on 2048-d statistics.

gankit computes ``Tr((Σ₁Σ₂)^{1/2})`` as the sum of square roots of the eigenvalues of ``Lᵀ Σ₂ L`` with
``Σ₁ = L Lᵀ`` (LAPACK's symmetric-definite generalised eigenproblem: Cholesky, symmetric reduction, symmetric
eigenvalues; float64); the usual implementation (pytorch-fid) takes the general matrix square root of
``Σ₁Σ₂`` with scipy. Both run on the same statistics of synthetic 2048-d features (a random linear map of
Gaussian noise, like pool3 features: correlated, full rank), in alternation; the table reports median wall
times, the speed ratio and the relative difference of the two FIDs (the script fails above 1e-6).

    python benchmarks/bench_frechet.py [--quick] [--repeats 3] [--dim 2048] [--threads N] [--write]

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="1 repeat, 4,096 samples per set")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--dim", type=int, default=2048)
    parser.add_argument("--samples", type=int, default=10_000, help="features per set")
    parser.add_argument("--threads", type=int, default=None,
                        help="BLAS/OpenMP threads for both implementations (default: the environment's)")
    parser.add_argument("--write", action="store_true", help="append the result to BENCHMARKS.md")
    args = parser.parse_args()
    if args.threads:  # before numpy/torch start their thread pools
        for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
            os.environ[var] = str(args.threads)
    import torch

    from gankit.metrics.stats import frechet_distance, frechet_distance_sqrtm
    repeats = 1 if args.quick else args.repeats
    n = 4096 if args.quick else args.samples
    mu1, s1 = synthetic_stats(n, args.dim, seed=1)
    mu2, s2 = synthetic_stats(n, args.dim, seed=2)
    np_args = (mu1.numpy(), s1.numpy(), mu2.numpy(), s2.numpy())
    frechet_distance(mu1, s1, mu2, s2)  # warm-up: LAPACK workspaces, thread pools
    results = timed({"eig": lambda: frechet_distance(mu1, s1, mu2, s2),
                     "sqrtm": lambda: frechet_distance_sqrtm(*np_args)}, repeats)
    (t_eig, fid_eig), (t_sqrtm, fid_sqrtm) = results["eig"], results["sqrtm"]
    rel = abs(fid_eig - fid_sqrtm) / abs(fid_sqrtm)
    lines = [
        "| implementation | median time (s) | FID | speed-up |",
        "| --- | --- | --- | --- |",
        f"| scipy.linalg.sqrtm (pytorch-fid) | {t_sqrtm:.3f} | {fid_sqrtm:.6f} | 1.0× |",
        f"| gankit symmetric eigenvalues (float64) | {t_eig:.3f} | {fid_eig:.6f} | {t_sqrtm / t_eig:.1f}× |",
    ]
    body = (f"{args.dim}-d statistics of {n:,} synthetic samples per set, {repeats} repeat(s), "
            f"{torch.get_num_threads()} thread(s); relative difference of the FIDs: {rel:.2e}.\n\n"
            + "\n".join(lines))
    print(report("Fréchet distance: eigenvalues vs sqrtm", body, args.write))
    if rel > 1e-6:
        raise SystemExit(f"the two FIDs differ by {rel:.2e} (relative), more than 1e-6")


if __name__ == "__main__":
    main()

