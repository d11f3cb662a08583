"""Each benchmark's --quick mode runs to completion (slow: minutes; `pytest -m slow`)."""

from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import ROOT, SHARED_DATA

BENCH = ROOT / "benchmarks"


def recorded_results() -> dict[str, bytes]:
    """The committed result images (sample grids, scatter plots) that full runs write."""
    return {p.name: p.read_bytes() for p in sorted((BENCH / "results").glob("*.png"))}


def run_quick(script: str, *args: str) -> str:
    """Run a benchmark's smoke mode; it must neither fail nor replace a recorded result."""
    before = recorded_results()
    result = subprocess.run([sys.executable, str(BENCH / script), "--quick", *args], capture_output=True, text=True,
                            cwd=ROOT, timeout=1800)
    assert result.returncode == 0, result.stderr[-2000:]
    assert recorded_results() == before, f"{script} --quick changed files in benchmarks/results/"
    return result.stdout


@pytest.mark.slow
def test_cli_startup_quick():
    out = run_quick("bench_cli_startup.py")
    assert "| `gankit list-plugins` |" in out


@pytest.mark.slow
def test_mixtures_quick():
    out = run_quick("bench_mixtures.py", "--divergences", "gan-qp", "--data", "ring", "--jobs", "1")
    assert "| gankit gan-qp |" in out


@pytest.mark.slow
def test_overhead_quick():
    args = ["--config", "mnist-dcgan"] if (SHARED_DATA / "mnist").exists() else ["--config", "ring-mlp"]
    out = run_quick("bench_overhead.py", *args)
    assert "| gan-qp |" in out and "| hand / hand (A/A) |" in out


@pytest.mark.slow
def test_quality_quick():
    if not (SHARED_DATA / "mnist" / "train-images-idx3-ubyte.gz").exists():
        pytest.skip(f"MNIST not found at {SHARED_DATA / 'mnist'} (set GANKIT_TEST_DATA to the folder holding mnist/)")
    out = run_quick("bench_quality.py", "--jobs", "1", "--data-root", str(SHARED_DATA))
    assert "| real test set vs train (noise floor) |" in out
    assert "| SGAN-NS |" in out and "| GAN-QP L1 |" in out


@pytest.mark.slow
def test_stacked_quick():
    if not (SHARED_DATA / "mnist" / "train-images-idx3-ubyte.gz").exists():
        pytest.skip(f"MNIST not found at {SHARED_DATA / 'mnist'} (set GANKIT_TEST_DATA to the folder holding mnist/)")
    out = run_quick("bench_stacked.py", "--jobs", "1", "--data-root", str(SHARED_DATA))
    assert "| gankit GAN-QP L1 |" in out
    assert "| DCGAN (published) | | 99 | 3.4 |" in out


@pytest.mark.slow
def test_frechet_quick():
    out = run_quick("bench_frechet.py", "--threads", "1")
    assert "| gankit symmetric eigenvalues (float64) |" in out


@pytest.mark.slow
def test_extraction_quick():
    out = run_quick("bench_extraction.py")
    assert "| mnist-classifier |" in out and "| inception-v3 |" in out


@pytest.mark.slow
def test_gpu_benchmark_paths_on_cpu():
    # no GPU here: the same matrix on the CPU, tiny batch, runs every path the GPU run takes (bf16 autocast,
    # channels_last, torch.compile) and the report's columns, so the script is known to work when a GPU is lent
    out = run_quick("bench_gpu.py", "--device", "cpu", "--batches", "4")
    assert "device CPU (smoke run, not a GPU figure)" in out
    for config in ("dcgan64", "resnet32"):
        for mode in ("fp32", "bf16", "bf16+cl+compile"):
            assert f"| {config} | 4 | {mode} |" in out


@pytest.mark.slow
def test_gpu_benchmark_says_when_there_is_no_gpu():
    import torch

    if torch.cuda.is_available():
        pytest.skip("a CUDA device is visible: the no-GPU message cannot be checked here")
    result = subprocess.run([sys.executable, str(BENCH / "bench_gpu.py"), "--quick"], capture_output=True, text=True,
                            cwd=ROOT, timeout=300)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == ("bench_gpu.py needs a CUDA device; none is visible "
                                                      "(--device cpu runs a smoke run)")
