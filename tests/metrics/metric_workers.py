"""Code run inside processes spawned by the metrics tests (kept apart so a spawned child imports only this)."""

from __future__ import annotations

import os
import sys
import traceback
from pathlib import Path

import torch

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
