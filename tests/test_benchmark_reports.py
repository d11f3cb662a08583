"""The benchmarks' report logic (fast): seed statistics, the GAN-QP-vs-WGAN-GP verdict, the mixtures tables."""

from __future__ import annotations

import sys
from typing import Any

import pytest
from conftest import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))

import bench_mixtures
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


def mixture_row(data: str, divergence: str, seed: int, modes: float, hq: float) -> dict[str, Any]:
    return {"data": data, "divergence": divergence, "seed": seed, "modes": modes, "high_quality": hq,
            "reverse_kl": 0.01 * seed, "plot": None}


def test_mixture_tables_name_the_seeds_and_list_each_seed_in_order() -> None:
    # results arrive in any order from the pool; the per-seed line is sorted by seed so it can be pooled later
    rows = [mixture_row("ring", "gan-qp", 4, 8, 97.0), mixture_row("ring", "gan-qp", 2, 8, 96.0),
            mixture_row("ring", "gan-qp", 3, 7, 98.0)]
    text = "\n".join(bench_mixtures.result_tables(rows, ["ring"], ["gan-qp"], [2, 3, 4], 10_000))
    assert "**ring** (3 seed(s): 2–4; 10000 generator steps, batch 100)" in text
    assert "| gankit gan-qp | 7.67 ± 0.33 | 97.00 ± 0.58 | 0.030 ± 0.006 |" in text
    assert "Per seed (modes/high-quality %, seeds in order): gan-qp 8/96.00, 7/98.00, 8/97.00." in text
    assert "Target for GAN-QP: 8/8 modes, ≥ 97 % high quality." in text


def test_mixture_tables_single_seed() -> None:
    text = "\n".join(bench_mixtures.result_tables([mixture_row("grid", "hinge", 3, 25, 90.0)], ["grid"], ["hinge"],
                                                 [3], 5000))
    assert "(1 seed(s): 3; 5000 generator steps" in text
    assert "| gankit hinge | 25.00 | 90.00 | 0.030 |" in text


def quality_row(divergence: str, seed: int, fid: float) -> dict[str, Any]:
    return {"dataset": "mnist", "divergence": divergence, "seed": seed, "fid": fid, "kid": fid / 100, "is": 2.0,
            "minutes": 3.0}


def test_quality_tables_name_the_seeds_list_each_seed_in_order_and_give_the_verdict() -> None:
    rows = [quality_row("wgan-gp", 3, 1.6), quality_row("gan-qp-l2", 3, 2.0), quality_row("wgan-gp", 2, 1.8),
            quality_row("gan-qp-l2", 2, 2.2)]
    floors = {"mnist": {"fid": 0.01, "kid": 0.0001, "is": 7.2}}
    text = "\n".join(bench_quality.result_tables(rows, floors, ["mnist"], ["wgan-gp", "gan-qp-l2"], [2, 3], 1800,
                                                 10_000, 60_000))
    assert "**MNIST** (2 seed(s): 2–3; 1800 generator steps" in text
    assert "vs the whole training split)" in text
    assert "| real test set vs train (noise floor) | | | | 0.01 | 0.10 | 7.20 | |" in text
    assert "| GAN-QP L2 | 2 | 0.0002, (0.5, 0.999) | batch | 2.10 ± 0.10 | 21.00 ± 1.00 | 2.00 ± 0.00 | 3.0 |" in text
    assert ("Per seed (FID/KID×10³/IS, seeds in order): WGAN-GP 1.800/18.00/2.000, 1.600/16.00/2.000; "
            "GAN-QP L2 2.200/22.00/2.000, 2.000/20.00/2.000.") in text
    assert "GAN-QP L2 FID 2.10 vs WGAN-GP 1.70 — worse by more than two standard errors" in text


def test_mixture_sweeps_hold_the_recorded_protocol() -> None:
    # the sweep files are what bench_mixtures.py trains: VEEGAN/PacGAN networks and each divergence's critic steps
    from gankit.sweep.plan import load_sweep

    for data in ("ring", "grid"):
        sweep = load_sweep(ROOT / "benchmarks" / f"mixtures-{data}.toml")
        assert [v.name for v in sweep.variants] == bench_mixtures.DIVERGENCES
        assert sweep.seeds == [0, 1, 2, 3, 4] and all(r.steps == 10_000 for r in sweep.runs)
        critic_steps = {v.name: v.overrides for v in sweep.variants}
        assert "run.critic_steps=5" in critic_steps["wgan-gp"] and "run.critic_steps=2" in critic_steps["gan-qp"]
        assert f'data.name="{data}"' in sweep.variants[0].overrides


def test_quality_and_stacked_sweeps_hold_the_recorded_protocol(monkeypatch: pytest.MonkeyPatch) -> None:
    from conftest import SHARED_DATA

    from gankit.sweep.plan import load_sweep

    if not (SHARED_DATA / "mnist" / "train-images-idx3-ubyte.gz").exists():
        pytest.skip(f"MNIST not found at {SHARED_DATA / 'mnist'} (the sweeps validate their data files)")
    monkeypatch.chdir(ROOT)  # the base specs' data paths are relative to the repository root
    root = f'data.params.root="{SHARED_DATA / "mnist"}"'
    quality = load_sweep(ROOT / "benchmarks" / "quality-mnist.toml", [root])
    assert [v.name for v in quality.variants] == list(bench_quality.DIVERGENCES)
    wgan = next(v for v in quality.variants if v.name == "wgan-gp")
    assert 'critic.params.norm="layer"' in wgan.overrides and "run.critic_steps=5" in wgan.overrides
    stacked = load_sweep(ROOT / "benchmarks" / "stacked.toml", [root])
    assert [v.name for v in stacked.variants] == ["sgan-ns", "wgan-gp", "gan-qp-l1"]
