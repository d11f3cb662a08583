"""Code run inside processes spawned by the metrics tests (kept apart so a spawned child imports only this)."""

from __future__ import annotations

import math
import os
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from gankit.protocols import EvalContext

sys.path.insert(0, str(Path(__file__).resolve().parent))


def features_worker(rank: int, world: int, port: int, folder: Path) -> None:
    """Rank ``rank`` of ``world`` (gloo): extract generated and real features with the ranks sharing the work."""
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), OMP_NUM_THREADS="1")
    torch.set_num_threads(1)
    try:
        import torch.distributed as dist
        from metric_helpers import make_ctx

        from gankit.features.raw import RawExtractor
        from gankit.metrics.features import fake_features, real_features
        from gankit.protocols import DataInfo

        dist.init_process_group("gloo", rank=rank, world_size=world)
        real = torch.arange(70 * 4, dtype=torch.float32).view(70, 4)
        fake = torch.full((40, 4), float(rank)) + torch.arange(40).view(40, 1)  # each rank's own samples
        ctx = make_ctx(real, fake, DataInfo(shape=(4,), key="points"), folder / f"cache-{rank}")
        ctx.rank, ctx.world_size = rank, world
        extractor = RawExtractor(batch_size=8)
        result = {"fake": fake_features(ctx, extractor, 25).features, "real": real_features(ctx, extractor, 70),
                  "cache": sorted(p.name for p in (folder / f"cache-{rank}").rglob("*.pt"))}
        # a new evaluation: only rank 0 can see the cache file (node-local disks); nobody may hang
        again = make_ctx(real, fake, DataInfo(shape=(4,), key="points"), folder / f"cache-{rank}")
        again.rank, again.world_size = rank, world
        result["real_again"] = real_features(again, extractor, 70)
        dist.destroy_process_group()
    except BaseException:
        result = {"error": traceback.format_exc()}
    torch.save(result, folder / f"result-{rank}.pt")


# ------------------------------------------------------------------------ run_metrics over ranks
N = 61  # generated samples per metric: odd, so the two ranks' shares differ (31 and 30)
RING = tuple((math.cos(2 * math.pi * i / 8), math.sin(2 * math.pi * i / 8)) for i in range(8))


class Probe:
    """A metric written for one process: draws ``n`` labelled samples and reports what it got, in order."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __call__(self, ctx: EvalContext) -> dict[str, float]:
        x, y = ctx.sample_fake(self.n)
        assert y is not None
        weights = torch.arange(1, len(x) + 1, dtype=torch.float64)
        return {"count": float(len(x)), "order": float((x[:, 0].double() * weights).sum()),
                "labels": float((y.double() * weights).sum())}


def squares(n: int, seed: int) -> torch.Tensor:
    """MNIST-sized images in [-1, 1]: a bright square of random size at a random place."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.full((n, 1, 28, 28), -1.0)
    for i in range(n):
        r, c, size = (int(v) for v in torch.randint(2, 16, (3,), generator=gen))
        x[i, 0, r : r + 4 + size // 2, c : c + 4 + size // 2] = 1.0
    return x


def ring_points() -> torch.Tensor:
    """``N`` points near the ring's modes: rank 0's share (the first 31) near modes 0-3, rank 1's near 4-7, so
    a per-rank mode count (4) differs from the count over all samples (8)."""
    gen = torch.Generator().manual_seed(3)
    modes = [i % 4 for i in range(31)] + [4 + i % 4 for i in range(N - 31)]
    centres = torch.tensor([RING[m] for m in modes])
    return centres + 0.02 * torch.randn(N, 2, generator=gen)


def block_sampler(sets: list[tuple[torch.Tensor, torch.Tensor | None]], rank: int,
                  world: int) -> Callable[[int], tuple[torch.Tensor, torch.Tensor | None]]:
    """``sample_fake`` of rank ``rank``: its ``i``-th call returns this rank's block of the ``i``-th set (the
    whole set in one process), so ``world`` ranks together draw exactly what one process draws."""
    from gankit.engine.distributed import share

    calls = iter(range(len(sets)))

    def sample_fake(k: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        x, y = sets[next(calls)]
        start = sum(share(len(x), q, world) for q in range(rank))
        return x[start : start + k], (y[start : start + k] if y is not None else None)

    return sample_fake


def evaluation_groups(rank: int, world: int, cache: Path) -> dict[str, tuple[dict[str, Any], EvalContext]]:
    """Every built-in metric (and a one-process probe) with the samplers of rank ``rank`` of ``world``:
    feature metrics with the packaged MNIST classifier on images, mode-coverage and the k-NN metrics with raw
    features on ring points."""
    from gankit.metrics import (
        DensityCoverageParams,
        FIDParams,
        ISParams,
        KIDParams,
        ModeCoverageParams,
        PrecisionRecallParams,
        StackedMNISTModesParams,
        mode_coverage,
        stacked_mnist,
    )
    from gankit.metrics import feature_metrics as fm
    from gankit.protocols import BuildEnv, DataInfo

    images = DataInfo(shape=(1, 28, 28), key="mnist-28-squares")
    img_env = BuildEnv(data=images, cache_dir=cache)
    image_metrics = {
        "fid": fm.build_fid(FIDParams(n_samples=N, n_real=80), img_env),
        "kid": fm.build_kid(KIDParams(n_samples=N, subsets=4, subset_size=20), img_env),
        "is": fm.build_is(ISParams(n_samples=N, splits=3), img_env),
        "precision-recall": fm.build_precision_recall(PrecisionRecallParams(n_samples=N), img_env),
        "density-coverage": fm.build_density_coverage(DensityCoverageParams(n_samples=N), img_env),
        "stacked-mnist-modes": stacked_mnist.build(StackedMNISTModesParams(n_samples=N), img_env),
    }
    real_images = squares(80, 0)
    image_ctx = EvalContext(info=images, device=torch.device("cpu"), cache_dir=cache,
                            sample_fake=block_sampler([(squares(N, 1), None)], rank, world),
                            sample_real=lambda n, split="train": (real_images[:n], None), rank=rank, world_size=world)

    points = DataInfo(shape=(2,), num_classes=3, modes=RING, mode_std=0.05, key="ring-8-test")
    pt_env = BuildEnv(data=points, cache_dir=cache)
    point_metrics = {
        "mode-coverage": mode_coverage.build(ModeCoverageParams(n_samples=N), pt_env),
        "probe": Probe(5),
        "precision-recall": fm.build_precision_recall(PrecisionRecallParams(n_samples=N), pt_env),
        "density-coverage": fm.build_density_coverage(DensityCoverageParams(n_samples=N), pt_env),
    }
    gen = torch.Generator().manual_seed(5)
    probe_set = (torch.randn(5, 2, generator=gen), torch.tensor([2, 0, 1, 1, 2]))
    real_points = ring_points().flip(0) + 0.01
    point_sets = [(ring_points(), None), probe_set, (ring_points() * 1.05, None)]
    point_ctx = EvalContext(info=points, device=torch.device("cpu"), cache_dir=cache,
                            sample_fake=block_sampler(point_sets, rank, world),
                            sample_real=lambda n, split="train": (real_points[:n], None), rank=rank, world_size=world)
    return {"images": (image_metrics, image_ctx), "points": (point_metrics, point_ctx)}


def run_metrics_worker(rank: int, world: int, port: int, folder: Path) -> None:
    """Rank ``rank`` of ``world`` (gloo): ``run_metrics`` on every group of :func:`evaluation_groups`."""
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), OMP_NUM_THREADS="1")
    torch.set_num_threads(1)
    try:
        import torch.distributed as dist

        from gankit.evaluate import run_metrics

        dist.init_process_group("gloo", rank=rank, world_size=world)
        result: dict[str, Any] = {}
        for group, (metrics, ctx) in evaluation_groups(rank, world, folder / f"cache-{rank}").items():
            result[group] = run_metrics(metrics, ctx)
        dist.destroy_process_group()
    except BaseException:
        result = {"error": traceback.format_exc()}
    torch.save(result, folder / f"result-{rank}.pt")
