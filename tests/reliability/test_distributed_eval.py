"""Evaluation under several processes computes every metric once over the samples of all ranks: two gloo
ranks report exactly the same values, and the values one process reports on the same samples — for every
built-in metric (mode counts and recall are not means over samples: averaging per-rank values was wrong)."""

from __future__ import annotations

import socket
import sys

import pytest
import torch
import torch.multiprocessing as mp
from conftest import ROOT

sys.path.insert(0, str(ROOT / "tests" / "metrics"))
from metric_workers import evaluation_groups, run_metrics_worker

from gankit.engine.distributed import share
from gankit.evaluate import run_metrics
from gankit.plugins import get_registry


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def two_ranks(tmp_path_factory: pytest.TempPathFactory) -> list[dict]:
    folder = tmp_path_factory.mktemp("eval-ddp")
    mp.spawn(run_metrics_worker, args=(2, _free_port(), folder), nprocs=2, join=True)
    results = [torch.load(folder / f"result-{r}.pt", weights_only=False) for r in range(2)]
    for r, res in enumerate(results):
        assert "error" not in res, f"rank {r}: {res['error']}"
    return results


@pytest.fixture(scope="module")
def one_process(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, float]]:
    cache = tmp_path_factory.mktemp("eval-one")
    return {group: run_metrics(metrics, ctx) for group, (metrics, ctx) in evaluation_groups(0, 1, cache).items()}


def test_every_rank_reports_the_same_values(two_ranks) -> None:
    assert two_ranks[0] == two_ranks[1]


def test_two_ranks_report_what_one_process_reports_on_the_same_samples(two_ranks, one_process) -> None:
    for rank, got in enumerate(two_ranks):
        assert got.keys() == one_process.keys()
        for group, expected in one_process.items():
            assert got[group].keys() == expected.keys(), (rank, group)
            for key, value in expected.items():
                # features of a 31-image slice and of all 61 differ in the last bits (batched kernels)
                assert got[group][key] == pytest.approx(value, rel=1e-5, abs=1e-6), (rank, group, key)
        assert got["points"]["mode-coverage/modes"] == 8  # 4 on each rank: an average would say 4
        assert got["points"]["probe/count"] == 5


def test_every_built_in_metric_is_covered(one_process) -> None:
    """A metric added to gankit must be added to this comparison."""
    built_in = {c.name for c in get_registry().of_kind("metric") if c.dist == "gankit"}
    covered = {key.split("/")[0] for values in one_process.values() for key in values}
    assert built_in <= covered, built_in - covered


def test_shares_reassemble_every_sample_in_rank_order() -> None:
    for n in range(0, 12):
        for world in (1, 2, 3, 5):
            counts = [share(n, r, world) for r in range(world)]
            assert sum(counts) == n and max(counts) - min(counts) <= 1 and counts == sorted(counts, reverse=True)
