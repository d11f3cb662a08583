"""The benchmarks' report logic (fast): seed statistics and the GAN-QP-vs-WGAN-GP verdict."""

from __future__ import annotations

import sys
from typing import Any

import pytest
from conftest import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))

import bench_quality
from common import mean_se


def rows(wgan: list[float], qp: list[float]) -> list[dict[str, Any]]:
    return ([{"dataset": "mnist", "divergence": "wgan-gp", "fid": f} for f in wgan]
            + [{"dataset": "mnist", "divergence": "gan-qp-l1", "fid": f} for f in qp])


def verdict(wgan: list[float], qp: list[float]) -> str:
    return bench_quality.ganqp_verdict(rows(wgan, qp), ["mnist"], ["wgan-gp", "gan-qp-l1"])


@pytest.mark.parametrize(
    ("wgan", "qp", "expected"),
    [
        ([2.0, 2.2], [1.9, 2.1], "at least as good"),
        ([2.0, 2.2], [2.2, 2.4], "within two standard errors"),
        ([2.0, 2.1], [3.0, 3.1], "worse by more than two standard errors"),
        ([2.0], [3.0], "on one seed: too few runs"),
        ([2.0], [1.5], "at least as good"),
    ],
)
def test_ganqp_verdict(wgan: list[float], qp: list[float], expected: str) -> None:
    assert expected in verdict(wgan, qp)


def test_verdict_needs_both_methods() -> None:
    assert bench_quality.ganqp_verdict(rows([2.0], []), ["mnist"], ["wgan-gp"]) == ""


def test_mean_se_gives_no_error_bar_for_one_seed() -> None:
    assert mean_se([97.52]) == "97.52"
    assert mean_se([97.52, 96.88]) == "97.20 ± 0.32"
    assert mean_se([0.0016, 0.0018], 3) == "0.002 ± 0.000"
