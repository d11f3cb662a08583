"""Exact resume on the CPU: N steps, a checkpoint, a fresh process-state resume, N more steps equal 2N straight
steps bit for bit — weights, EMA, optimizer and scheduler state, gradient scalers, divergence state and the
logged losses. Covers several optimizers, linear LR decay, gradient clipping, data epochs wrapping, RNG use
inside a loss (gradient penalty interpolates), BEGAN's k_t, fp16 with a gradient scaler, and bf16."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path
from typing import Any

import pytest
import torch
from conftest import tiny_spec

from gankit.engine.checkpoint import list_checkpoints, load_checkpoint
from gankit.engine.trainer import Trainer, TrainOptions
from gankit.errors import Interrupted
from gankit.spec import validate_spec

STEPS = 12
HALF = 6
RING = {"name": "ring", "params": {"n_samples": 200}}  # 200 // 16 = 12 batches an epoch: epochs wrap

CONFIGS: dict[str, dict[str, Any]] = {
    "gan-qp-ema-adamw-rmsprop-linear": tiny_spec(
        run={"critic_steps": 2, "ema": 0.9, "optimizer": {
            "generator": {"name": "adamw", "lr": 1e-3, "weight_decay": 0.01, "schedule": "linear", "grad_clip": 1.0},
            "critic": {"name": "rmsprop", "lr": 1e-3, "momentum": 0.5, "schedule": "linear"}}},
    ),
    "wgan-gp-sgd-r1": tiny_spec(
        run={"critic_steps": 2, "regularize": {"r1": 0.5},
             "optimizer": {"generator": {"name": "sgd", "lr": 1e-2, "momentum": 0.9},
                           "critic": {"name": "adam", "lr": 1e-3, "betas": [0.0, 0.9]}}},
        divergence={"name": "wgan-gp", "params": {}},
    ),
    "began-k_t": tiny_spec(
        critic={"name": "autoencoder", "params": {"width": 32, "code_dim": 4}},
        divergence={"name": "began", "params": {"gamma": 0.5, "lambda_k": 0.05}},
    ),
    "fp16-scaler": tiny_spec(run={"precision": "fp16", "ema": 0.5}),
    "bf16": tiny_spec(run={"precision": "bf16"}),
}


def _spec(config: str) -> Any:
    data = CONFIGS[config]
    # log rows at 4, 8, 12: the checkpoint at 6 falls inside a log interval, whose partial sums it must carry
    run = {**data["run"], "steps": STEPS, "batch_size": 16, "log_every": 4, "checkpoint_every": HALF,
           "sample_every": STEPS, "keep_checkpoints": 10}
    return validate_spec({**data, "run": run, "data": RING, "metrics": []})


class _Stop(Exception):
    """Ends a run right after its step-HALF checkpoint, as a crash would."""


def _stop_at(step: int):
    def on_step(trainer: Trainer) -> None:
        if trainer.step == step:
            raise _Stop

    return on_step


@pytest.fixture(autouse=True)
def _deterministic():
    torch.use_deterministic_algorithms(True)
    yield
    torch.use_deterministic_algorithms(False)


def _loss_rows(out: Path) -> list[dict[str, Any]]:
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in r.items() if k not in ("time", "img_per_s")} for r in rows]


def _assert_same_state(got: dict[str, Any], expected: dict[str, Any], where: str = "") -> None:
    assert type(got) is type(expected), where
    if isinstance(expected, torch.Tensor):
        assert torch.equal(got, expected), f"{where} differs"
    elif isinstance(expected, dict):
        assert got.keys() == expected.keys(), where
        for key in expected:
            _assert_same_state(got[key], expected[key], f"{where}.{key}")
    elif isinstance(expected, list | tuple):
        assert len(got) == len(expected), where
        for i, (a, b) in enumerate(zip(got, expected, strict=True)):
            _assert_same_state(a, b, f"{where}[{i}]")
    else:
        assert got == expected, f"{where}: {got!r} != {expected!r}"


def _comparable(state: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in state.items() if k not in ("manifest",)}


SLOW = ("wgan-gp-sgd-r1", "began-k_t", "bf16")


@pytest.mark.parametrize(
    "config", [pytest.param(c, marks=pytest.mark.slow) if c in SLOW else c for c in CONFIGS]
)
def test_n_steps_resume_n_steps_equals_2n_steps(config: str, tmp_path: Path) -> None:
    spec = _spec(config)
    straight = tmp_path / "straight"
    Trainer(spec, TrainOptions(out_dir=straight, progress=False)).fit()

    split = tmp_path / "split"
    with pytest.raises(_Stop):
        Trainer(spec, TrainOptions(out_dir=split, progress=False)).fit(on_step=_stop_at(HALF))
    assert [p.name for p in list_checkpoints(split / "checkpoints")] == ["step-000000006.pt"]
    torch.manual_seed(12345)  # whatever the process did meanwhile must not matter
    resumed = Trainer(spec, TrainOptions(out_dir=split, resume=True, progress=False))
    result = resumed.fit()
    assert result.step == STEPS

    expected = load_checkpoint(straight / "checkpoints" / "step-000000012.pt")
    got = load_checkpoint(split / "checkpoints" / "step-000000012.pt")
    _assert_same_state(_comparable(got), _comparable(expected))
    assert _loss_rows(split) == _loss_rows(straight)
    if config.startswith("fp16"):
        assert got["scaler_generator"]["scale"] > 0 and got["ema"]["n_averaged"].item() == STEPS
    if config.startswith("began"):
        assert got["divergence"]["k"].item() > 0


def test_a_signal_between_checkpoints_saves_and_resumes_exactly(tmp_path: Path) -> None:
    """SIGINT at step 4 (no periodic checkpoint there): the step finishes, a checkpoint is saved, the run
    stops with exit code 130; resuming from it still gives the straight run's weights."""
    spec = _spec("gan-qp-ema-adamw-rmsprop-linear")
    straight = tmp_path / "straight"
    Trainer(spec, TrainOptions(out_dir=straight, progress=False)).fit()

    def interrupt(trainer: Trainer) -> None:
        if trainer.step == 4:
            os.kill(os.getpid(), signal.SIGINT)

    out = tmp_path / "run"
    with pytest.raises(Interrupted) as info:
        Trainer(spec, TrainOptions(out_dir=out, progress=False)).fit(on_step=interrupt)
    assert info.value.exit_code == 130
    assert str(info.value) == (f"stopped by SIGINT at step 4; saved {out / 'checkpoints' / 'step-000000004.pt'}; "
                               "continue with --resume")
    Trainer(spec, TrainOptions(out_dir=out, resume=True, progress=False)).fit()
    expected = load_checkpoint(straight / "checkpoints" / "step-000000012.pt")
    got = load_checkpoint(out / "checkpoints" / "step-000000012.pt")
    _assert_same_state(_comparable(got), _comparable(expected))
    assert _loss_rows(out) == _loss_rows(straight)  # the partial log interval was carried in the checkpoint


def test_sigterm_behaves_like_sigint(tmp_path: Path) -> None:
    spec = _spec("bf16")

    def terminate(trainer: Trainer) -> None:
        if trainer.step == 2:
            os.kill(os.getpid(), signal.SIGTERM)

    out = tmp_path / "run"
    with pytest.raises(Interrupted, match=r"^stopped by SIGTERM at step 2; saved .*step-000000002\.pt; "
                                          r"continue with --resume$") as info:
        Trainer(spec, TrainOptions(out_dir=out, progress=False)).fit(on_step=terminate)
    assert info.value.exit_code == 130
    assert load_checkpoint(out / "checkpoints" / "step-000000002.pt")["step"] == 2
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # handlers restored after fit


def test_metrics_rows_after_the_checkpoint_are_dropped_on_resume(tmp_path: Path) -> None:
    """A crash after the step-6 checkpoint leaves the row for step 8; the resumed run redoes steps 7..12 and
    must not log step 8 twice."""
    spec = _spec("bf16")
    out = tmp_path / "run"
    with pytest.raises(_Stop):
        Trainer(spec, TrainOptions(out_dir=out, progress=False)).fit(on_step=_stop_at(9))
    assert [r["step"] for r in _loss_rows(out)] == [4, 8]
    Trainer(spec, TrainOptions(out_dir=out, resume=True, progress=False)).fit()
    assert [r["step"] for r in _loss_rows(out)] == [4, 8, 12]


def test_resuming_a_finished_run_changes_nothing(tmp_path: Path) -> None:
    spec = validate_spec({**_spec("bf16").to_dict(), "metrics": [{"name": "mode-coverage",
                                                                   "params": {"n_samples": 100}}]})
    out = tmp_path / "run"
    first = Trainer(spec, TrainOptions(out_dir=out, progress=False)).fit()
    before = (out / "metrics.jsonl").read_text()
    again = Trainer(spec, TrainOptions(out_dir=out, resume=True, progress=False)).fit()
    assert again.step == STEPS and again.metrics == first.metrics
    assert (out / "metrics.jsonl").read_text() == before


def test_extending_a_run_keeps_the_linear_schedule_to_the_new_end(tmp_path: Path) -> None:
    spec = _spec("gan-qp-ema-adamw-rmsprop-linear")
    out = tmp_path / "run"
    Trainer(spec, TrainOptions(out_dir=out, progress=False)).fit()
    longer = validate_spec({**spec.to_dict(), "run": {**spec.to_dict()["run"], "steps": 2 * STEPS}})
    trainer = Trainer(longer, TrainOptions(out_dir=out, resume=True, progress=False))
    trainer.fit()
    rows = _loss_rows(out)
    lr_at_12 = next(r["lr_generator"] for r in rows if r["step"] == STEPS)
    assert lr_at_12 == 0.0  # the first run decayed to 0 at its own end
    assert 0 < next(r["lr_generator"] for r in rows if r["step"] == 16) < 1e-3  # the extension decays to step 24 anew


def test_a_checkpoint_with_the_old_critic_side_keys_resumes_exactly(tmp_path: Path) -> None:
    """Checkpoints written before the critic side was named ``critic`` hold ``opt_d``/``sched_d``/``scaler_d``
    (and ``_g``): a run folder from then must still resume, bit-exactly."""
    spec = _spec("gan-qp-ema-adamw-rmsprop-linear")
    straight = tmp_path / "straight"
    Trainer(spec, TrainOptions(out_dir=straight, progress=False)).fit()
    split = tmp_path / "split"
    with pytest.raises(_Stop):
        Trainer(spec, TrainOptions(out_dir=split, progress=False)).fit(on_step=_stop_at(HALF))
    path = split / "checkpoints" / "step-000000006.pt"
    state = load_checkpoint(path)
    for new, old in (("opt_generator", "opt_g"), ("opt_critic", "opt_d"), ("sched_generator", "sched_g"),
                     ("sched_critic", "sched_d"), ("scaler_generator", "scaler_g"), ("scaler_critic", "scaler_d")):
        state[old] = state.pop(new)
    torch.save(state, path)
    Trainer(spec, TrainOptions(out_dir=split, resume=True, progress=False)).fit()
    expected = load_checkpoint(straight / "checkpoints" / "step-000000012.pt")
    got = load_checkpoint(split / "checkpoints" / "step-000000012.pt")
    _assert_same_state(_comparable(got), _comparable(expected))
