"""Faults during training: SIGKILL at random steps then --resume, SIGINT, a full disk while checkpointing,
and NaN. A run never loses what it already wrote, and the checkpoint folder never holds a partial file."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import textwrap
import time
import types
from pathlib import Path

import pytest
import torch
from conftest import tiny_spec, to_toml

from gankit.engine.checkpoint import list_checkpoints, load_checkpoint
from gankit.errors import TrainingError

STEPS = 40


def _spec(write_spec, **run) -> Path:
    return write_spec(tiny_spec(run={"steps": STEPS, "checkpoint_every": 4, "log_every": 4, "sample_every": STEPS,
                                     "keep_checkpoints": 50, **run}, metrics=[]))


def _train(spec: Path, out: Path, *extra: str) -> subprocess.Popen[str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "gankit", "train", str(spec), "--out", str(out), "--no-progress",
                             *extra], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def _final_generator(out: Path) -> dict[str, torch.Tensor]:
    return load_checkpoint(list_checkpoints(out / "checkpoints")[-1])["generator"]


def _assert_no_partial_files(out: Path) -> None:
    names = [p.name for p in (out / "checkpoints").iterdir()]
    assert names and all(n.startswith("step-") and n.endswith(".pt") for n in names), names


def _kill_after_checkpoint(proc: subprocess.Popen[str], out: Path, step: int) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        found = list_checkpoints(out / "checkpoints")
        if found and int(found[-1].stem.split("-")[1]) >= step:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            return
        time.sleep(0.01)
    pytest.fail(f"the run ended or stalled before step {step}: {proc.communicate()[1][-500:]}")


@pytest.fixture(scope="module")
def straight_run(tmp_path_factory):
    """The uninterrupted reference run, trained once for every kill test."""
    folder = tmp_path_factory.mktemp("straight")
    spec = folder / "spec.toml"
    spec.write_text(to_toml(tiny_spec(run={"steps": STEPS, "checkpoint_every": 4, "log_every": 4,
                                           "sample_every": STEPS, "keep_checkpoints": 50}, metrics=[])))
    proc = _train(spec, folder / "run")
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    return spec, _final_generator(folder / "run")


@pytest.mark.parametrize("kill_step", [
    pytest.param(8, id="early"),
    pytest.param(21, id="mid", marks=pytest.mark.slow),
    pytest.param(33, id="late", marks=pytest.mark.slow),
])
def test_sigkill_then_resume_matches_an_uninterrupted_run(straight_run, tmp_path, kill_step):
    spec, expected = straight_run
    out = tmp_path / "run"
    proc = _train(spec, out)
    _kill_after_checkpoint(proc, out, kill_step)
    _assert_no_partial_files(out)
    resumed = _train(spec, out, "--resume")
    _, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err
    _assert_no_partial_files(out)
    got = _final_generator(out)
    assert got.keys() == expected.keys()
    for key in expected:
        assert torch.equal(got[key], expected[key]), f"{key} differs after kill at step ≥ {kill_step} + resume"


def test_sigint_saves_a_checkpoint_and_exits_cleanly(write_spec, tmp_path):
    spec = _spec(write_spec, steps=100_000, checkpoint_every=100_000)
    out = tmp_path / "run"
    proc = _train(spec, out)
    deadline = time.monotonic() + 120
    while not (out / "metrics.jsonl").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "continue with --resume" in err
    _assert_no_partial_files(out)
    step = load_checkpoint(list_checkpoints(out / "checkpoints")[-1])["step"]
    assert 0 < step < 100_000


def test_full_disk_while_checkpointing_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    from gankit.engine import checkpoint as ckpt
    from gankit.engine.trainer import Trainer, TrainOptions
    from gankit.spec import validate_spec

    spec = validate_spec(tiny_spec(run={"steps": 12, "checkpoint_every": 4, "log_every": 4, "sample_every": 12},
                                   metrics=[]))
    out = tmp_path / "run"
    real_save = torch.save

    def save_then_fill_disk(obj, fh, *args, **kwargs):
        if obj["step"] >= 8:
            fh.write(b"partial bytes")
            raise OSError(errno.ENOSPC, "No space left on device")
        real_save(obj, fh, *args, **kwargs)

    monkeypatch.setattr(ckpt.torch, "save", save_then_fill_disk)
    with pytest.raises(TrainingError, match=r"No space left on device.*earlier checkpoints are untouched"):
        Trainer(spec, TrainOptions(out_dir=out, progress=False)).fit()
    assert [p.name for p in (out / "checkpoints").iterdir()] == ["step-000000004.pt"]
    monkeypatch.setattr(ckpt.torch, "save", real_save)
    assert load_checkpoint(out / "checkpoints" / "step-000000004.pt")["step"] == 4


NAN_PLUGIN = '''
import torch
from gankit.hookspecs import hookimpl
from gankit.params import NoParams


class NaNAfter:
    """A divergence whose critic loss turns NaN at its 7th call."""

    generator_uses_real = False

    def __init__(self, params, env):
        self.calls = 0

    def critic_loss(self, b):
        self.calls += 1
        loss = torch.nn.functional.softplus(-b.real_scores).mean() + torch.nn.functional.softplus(b.fake_scores).mean()
        return loss * float("nan") if self.calls >= 7 else loss

    def generator_loss(self, b):
        return torch.nn.functional.softplus(-b.fake_scores).mean()


@hookimpl
def register_divergences(register):
    register("nan-after", NoParams, NaNAfter, "test divergence that diverges")
'''


def test_nan_stops_cleanly_and_keeps_the_last_good_checkpoint(tmp_path):
    from gankit.engine.trainer import Trainer, TrainOptions
    from gankit.plugins import load_registry, reset_registry
    from gankit.spec import validate_spec

    module = types.ModuleType("nan_plugin")
    exec(textwrap.dedent(NAN_PLUGIN), module.__dict__)
    registry = load_registry(extra=[(module, "nan-dist", "1")])
    reset_registry(registry)
    spec = validate_spec(tiny_spec(run={"steps": 20, "checkpoint_every": 4, "log_every": 10, "sample_every": 20},
                                   divergence={"name": "nan-after", "params": {}}, metrics=[]), registry=registry)
    out = tmp_path / "run"
    with pytest.raises(TrainingError, match=r"training diverged at step 7: loss_critic") as info:
        Trainer(spec, TrainOptions(out_dir=out, progress=False)).fit()
    assert "step-000000004.pt" in str(info.value)
    assert [p.name for p in (out / "checkpoints").iterdir()] == ["step-000000004.pt"]
    state = load_checkpoint(out / "checkpoints" / "step-000000004.pt")
    assert all(torch.isfinite(t).all() for t in state["generator"].values())
