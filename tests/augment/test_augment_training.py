"""End-to-end: training with ``[augment]`` through the engine (MNIST, tiny DCGAN, CPU): the engine binds the
augmentation (``bind(RunContext)``), passes it to every ``LossInputs``, calls its ``after_critic_step`` and
checkpoints its ``state_dict``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from conftest import tiny_spec

from gankit.engine.checkpoint import load_checkpoint
from gankit.engine.trainer import Trainer, TrainOptions
from gankit.spec import validate_spec

STEPS, HALF = 8, 4


class _Stop(Exception):
    """Ends a run at a chosen step, as a crash would."""


def _spec(mnist_dir: Path, augment: dict[str, Any], divergence: str = "sgan-ns", **run: Any) -> Any:
    data = tiny_spec(
        run={"steps": STEPS, "batch_size": 16, "log_every": 2, "sample_every": STEPS, "checkpoint_every": HALF,
             "keep_checkpoints": 10, **run},
        data={"name": "mnist", "params": {"root": str(mnist_dir), "limit": 128}},
        generator={"name": "dcgan", "params": {"latent_dim": 16, "width": 8}},
        critic={"name": "dcgan", "params": {"width": 8, "norm": "layer"}},
        divergence={"name": divergence, "params": {}},
    )
    data["metrics"] = []
    data["augment"] = augment
    return validate_spec(data)


def _rows(out: Path) -> list[dict[str, Any]]:
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in r.items() if k not in ("time", "img_per_s")} for r in rows]


ADA_FAST = {"name": "ada", "params": {"p_init": 0.2, "interval": 1, "speed_kimg": 0.5}}


def test_ada_p_is_logged_plotted_and_moves(mnist_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    trainer = Trainer(_spec(mnist_dir, ADA_FAST), TrainOptions(out_dir=out, progress=False))
    trainer.fit()
    rows = _rows(out)
    assert all("augment/p" in r and "augment/rt" in r for r in rows)
    ps = [r["augment/p"] for r in rows]
    assert all(0 <= p <= 1 for p in ps) and len(set(ps)) > 1  # 16 images / 500 per step: p moves visibly
    assert (out / "plots" / "training.png").stat().st_size > 0
    aug = trainer.parts.augment
    assert aug.run is not None and aug.state_dict()["calls"] > 0  # bound, and applied


@pytest.mark.parametrize(
    ("augment", "divergence"),
    [(ADA_FAST, "sgan-ns"),
     pytest.param({"name": "diffaugment", "params": {}}, "gan-qp", marks=pytest.mark.slow),
     pytest.param({"name": "diffaugment", "params": {"policy": ["translation"]}}, "wgan-gp", marks=pytest.mark.slow)],
    ids=["ada-sgan-ns", "diffaugment-gan-qp", "diffaugment-wgan-gp"],
)
def test_resume_with_augmentation_is_bit_exact(mnist_dir: Path, tmp_path: Path, augment: dict[str, Any],
                                               divergence: str) -> None:
    torch.use_deterministic_algorithms(True)
    try:
        spec = _spec(mnist_dir, augment, divergence)
        straight = tmp_path / "straight"
        Trainer(spec, TrainOptions(out_dir=straight, progress=False)).fit()

        def stop(trainer: Trainer) -> None:
            if trainer.step == HALF:
                raise _Stop

        split = tmp_path / "split"
        with pytest.raises(_Stop):
            Trainer(spec, TrainOptions(out_dir=split, progress=False)).fit(on_step=stop)
        torch.manual_seed(999)
        Trainer(spec, TrainOptions(out_dir=split, resume=True, progress=False)).fit()
    finally:
        torch.use_deterministic_algorithms(False)
    name = f"step-{STEPS:09d}.pt"
    expected, got = load_checkpoint(straight / "checkpoints" / name), load_checkpoint(split / "checkpoints" / name)
    for key in ("generator", "critic"):
        for param, value in expected[key].items():
            assert torch.equal(got[key][param], value), f"{key}.{param}"
    assert _rows(split) == _rows(straight)


def test_augmentation_changes_training(mnist_dir: Path, tmp_path: Path) -> None:
    """The same seed with and without [augment] must train differently (the table is not silently ignored)."""
    plain = validate_spec({**_spec(mnist_dir, ADA_FAST).to_dict(), "augment": None})
    a = Trainer(plain, TrainOptions(out_dir=tmp_path / "a", progress=False))
    a.fit()
    b = Trainer(_spec(mnist_dir, {"name": "diffaugment"}), TrainOptions(out_dir=tmp_path / "b", progress=False))
    b.fit()
    ga, gb = a.parts.generator.state_dict(), b.parts.generator.state_dict()
    assert any(not torch.equal(ga[k], gb[k]) for k in ga)
