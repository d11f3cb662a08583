"""benchmarks/bench_limited.py: the leak statistics measure what they claim (fast), the report logic (fast),
and the --quick smoke run (slow; it trains with [augment], so it needs the engine wiring)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from conftest import ROOT, SHARED_DATA

sys.path.insert(0, str(ROOT / "benchmarks"))

import bench_limited

from gankit.augment import DiffAugmentParams
from gankit.augment.diffaugment import DiffAugment
from gankit.features.mnist import load_packaged
from gankit.protocols import RunContext


@pytest.fixture(scope="module")
def digits() -> torch.Tensor:
    """200 real MNIST test digits in [−1, 1]."""
    if not (SHARED_DATA / "mnist" / "t10k-images-idx3-ubyte.gz").exists():
        pytest.skip(f"MNIST not found at {SHARED_DATA / 'mnist'}")
    from gankit.data import MNISTParams
    from gankit.data.mnist import build

    data = build(MNISTParams(root=str(SHARED_DATA / "mnist")), None)
    return data.dataset("test").tensors[0][:200]


@pytest.fixture(scope="module")
def classifier() -> Any:
    return load_packaged("mnist-classifier")


def _leaks(x: torch.Tensor, classifier: Any) -> dict[str, float]:
    return bench_limited.leak_statistics(x, classifier)


def test_real_digits_show_almost_no_artefacts(digits: torch.Tensor, classifier: Any) -> None:
    leaks = _leaks(digits, classifier)
    assert leaks["grey_squares"] < 0.02 and leaks["grey_borders"] < 0.02 and leaks["inverted"] == 0
    assert leaks["reoriented"] < 0.05


def test_each_artefact_is_detected(digits: torch.Tensor, classifier: Any) -> None:
    cut = DiffAugment(DiffAugmentParams(policy=["cutout"]))
    cut.bind(RunContext(device=torch.device("cpu"), seed=0))
    assert _leaks(cut(digits), classifier)["grey_squares"] > 0.9  # 14×14 holes of 0 (mid-grey)
    shifted = digits.clone()
    shifted[..., :, :3] = 0.0  # a zero-padded band, as a translation by 3 columns leaves
    assert _leaks(shifted, classifier)["grey_borders"] == 1.0
    assert _leaks(-digits, classifier)["inverted"] == 1.0  # luma flip: light background
    turned = torch.rot90(digits, 1, dims=(2, 3))
    assert _leaks(turned, classifier)["reoriented"] > 0.5  # the classifier prefers the digits turned back


def _row(augment: str, seed: int, fid: float, p: list[tuple[int, float]] | None = None) -> dict[str, Any]:
    return {"dataset": "mnist", "limit": 500, "divergence": "sgan-ns", "augment": augment, "seed": seed, "fid": fid,
            "kid": 0.01, "grey_squares": 0.0, "grey_borders": 0.01, "inverted": 0.0, "reoriented": 0.05,
            "p": p or [], "rt": [], "minutes": 1.0}


def test_tables_show_fid_change_final_p_and_baselines() -> None:
    rows = [_row("none", 0, 10.0), _row("none", 1, 12.0), _row("ada", 0, 6.0, [(10, 0.1), (20, 0.3)]),
            _row("ada", 1, 7.0, [(10, 0.1), (20, 0.5)])]
    floors = {"mnist": {"fid": 0.01, "kid": 0.0001}}
    base = {"mnist": {"grey_squares": 0.0, "grey_borders": 0.0, "inverted": 0.0, "reoriented": 0.06}}
    text = "\n".join(bench_limited.result_tables(rows, floors, base, ["mnist"], [500], ["sgan-ns"], ["none", "ada"],
                                                 [0, 1], 3000, 10000, 60000, 2000))
    assert "vs the whole training split" in text
    assert "| SGAN-NS | ADA (bgc) | 6.50 ± 0.50 |" in text
    assert "| 0.40 ± 0.10 |" in text  # final p over seeds
    assert "SGAN-NS + ada: FID 11.00 → 6.50 (-41 %, 4.0 standard errors)." in text
    assert "| real test set (noise floor, leak baseline) | | 0.01 | 0.10 | 0.0 | 0.0 | 0.0 | 6.0 | | |" in text


def test_p_plot_is_written(tmp_path: Path) -> None:
    rows = [_row("ada", 0, 6.0, [(10, 0.1), (20, 0.3)]), _row("none", 0, 9.0)]
    bench_limited.plot_p(rows, tmp_path / "p.png")
    assert (tmp_path / "p.png").read_bytes()[:4] == b"\x89PNG"


def test_specs_train_on_the_limit_and_carry_the_augmentation() -> None:
    from gankit.spec import validate_spec

    for augment in ("none", "diffaugment", "ada"):
        data = bench_limited.spec_dict("mnist", 500, "gan-qp-l1", augment, 0, 3000, 100.0, SHARED_DATA)
        if not (SHARED_DATA / "mnist").exists():
            pytest.skip("MNIST not found")
        spec = validate_spec(data)
        assert spec.data.params.limit == 500 and spec.metrics == []
        assert (spec.augment is None) == (augment == "none")
    assert validate_spec(bench_limited.spec_dict("mnist", 500, "sgan-ns", "ada", 0, 3000, 100.0, SHARED_DATA)
                         ).augment.params.speed_kimg == 100.0


# the engine binds components to the run with a RunContext: until it builds one, [augment] is not applied


@pytest.mark.slow
def test_quick_mode_runs_and_writes_nothing_to_results() -> None:
    if not (SHARED_DATA / "mnist" / "train-images-idx3-ubyte.gz").exists():
        pytest.skip(f"MNIST not found at {SHARED_DATA / 'mnist'}")
    results = ROOT / "benchmarks" / "results"
    before = {p.name: p.read_bytes() for p in results.glob("limited-*")}
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_limited.py"), "--quick", "--jobs", "1",
                           "--data-root", str(SHARED_DATA)], capture_output=True, text=True, cwd=ROOT, timeout=1800)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "| SGAN-NS | ADA (bgc) |" in done.stdout and "| GAN-QP L1 | DiffAugment" in done.stdout
    assert {p.name: p.read_bytes() for p in results.glob("limited-*")} == before


def test_report_pools_earlier_result_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    """``--report`` pools the result files of runs made one data set at a time into one report, training nothing."""
    import argparse
    import json

    monkeypatch.setattr(bench_limited, "RESULTS_DIR", tmp_path / "results")
    floors = {"fid": 0.01, "kid": 0.0001}
    base = {"grey_squares": 0.0, "grey_borders": 0.0, "inverted": 0.0, "reoriented": 0.06}
    files = []
    for dataset in ("mnist", "fashion-mnist"):
        rows = [{**_row(a, s, 5.0 + s, [(10, 0.2)] if a == "ada" else None), "dataset": dataset}
                for a in ("none", "ada") for s in (0, 1)]
        path = tmp_path / f"{dataset}.json"
        path.write_text(json.dumps({"rows": rows, "floors": {dataset: floors}, "leak_baselines": {dataset: base}}))
        files.append(path)
    args = argparse.Namespace(report=files, steps=600, n_eval=10000, n_leak=2000, overrides=[], note="", write=False)
    bench_limited.pooled_report(args)
    text = capsys.readouterr().out
    assert "**MNIST, 500 training images**" in text and "**Fashion-MNIST, 500 training images**" in text
    assert "600 generator steps" in text
    pooled = json.loads((tmp_path / "results" / "limited-results.json").read_text())
    assert len(pooled["rows"]) == 8 and set(pooled["floors"]) == {"mnist", "fashion-mnist"}
    assert (tmp_path / "results" / "limited-ada-p.png").exists()
