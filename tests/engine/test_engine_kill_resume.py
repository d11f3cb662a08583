"""Real specs through the real command line: a run is stopped (SIGTERM) or killed (SIGKILL), resumed with
``--resume``, and finishes with its images, plots and metrics — for the 2-D ring quickstart and, when the
DCGAN networks and MNIST are available, the GAN-QP MNIST DCGAN spec."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from conftest import ROOT

from gankit.engine.checkpoint import list_checkpoints, load_checkpoint

QUICKSTART = ROOT / "specs" / "quickstart.toml"
MNIST_DCGAN = ROOT / "specs" / "mnist-dcgan.toml"
RING_SET = ["run.device=cpu", "run.log_every=10", "run.sample_every=20", "run.checkpoint_every=10",
            "run.keep_checkpoints=50", "metrics.0.params.n_samples=500"]


def _train(spec: Path, out: Path, overrides: list[str], *extra: str) -> subprocess.Popen[str]:
    args = [a for item in overrides for a in ("--set", item)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "gankit", "train", str(spec), "--out", str(out), "--no-progress",
                             *args, *extra], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            cwd=ROOT)


def _wait_for_checkpoint(proc: subprocess.Popen[str], out: Path, step: int, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        found = list_checkpoints(out / "checkpoints")
        if found and int(found[-1].stem.split("-")[1]) >= step:
            return
        time.sleep(0.01)
    proc.kill()
    pytest.fail(f"no checkpoint at step {step}: {proc.communicate()[1][-2000:]}")


def _finish(proc: subprocess.Popen[str]) -> str:
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err[-3000:]
    return err


def _assert_complete(out: Path, steps: int, sample_every: int) -> None:
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    train_steps = [r["step"] for r in rows if r.get("kind") != "eval"]
    assert train_steps == sorted(set(train_steps)) and train_steps[-1] == steps  # nothing logged twice
    assert json.loads((out / "eval.json").read_text())["step"] == steps
    samples = sorted(p.name for p in (out / "samples").iterdir())
    assert samples[-1] == f"step-{steps:09d}.png" and len(samples) == steps // sample_every
    assert (out / "plots" / "training.png").read_bytes()[:4] == b"\x89PNG"
    assert not [p for p in out.rglob("*") if p.name.startswith(".")], "temporary files left behind"


@pytest.mark.slow
def test_ring_quickstart_sigterm_then_resume_finishes(tmp_path: Path) -> None:
    out = tmp_path / "run"
    proc = _train(QUICKSTART, out, [*RING_SET, "run.steps=100000", "run.checkpoint_every=100000"])
    deadline = time.monotonic() + 240
    while not (out / "metrics.jsonl").exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.02)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=240)
    assert proc.returncode == 130, err[-2000:]
    line = err.strip().splitlines()[-1]
    assert line.startswith("error: stopped by SIGTERM at step ") and line.endswith("; continue with --resume")
    stopped = load_checkpoint(list_checkpoints(out / "checkpoints")[-1])["step"]
    end = (stopped // 20 + 2) * 20
    err = _finish(_train(QUICKSTART, out, [*RING_SET, f"run.steps={end}"], "--resume"))
    assert f"at step {stopped}" in err
    _assert_complete(out, end, 20)


@pytest.mark.slow
def test_ring_quickstart_killed_and_resumed_equals_a_straight_run(tmp_path: Path) -> None:
    overrides = [*RING_SET, "run.steps=60"]
    _finish(_train(QUICKSTART, tmp_path / "straight", overrides))
    out = tmp_path / "run"
    proc = _train(QUICKSTART, out, overrides)
    _wait_for_checkpoint(proc, out, 30)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    _finish(_train(QUICKSTART, out, overrides, "--resume"))
    _assert_complete(out, 60, 20)
    _assert_same_generator(out, tmp_path / "straight")


def _assert_same_generator(a: Path, b: Path) -> None:
    got = load_checkpoint(list_checkpoints(a / "checkpoints")[-1])
    expected = load_checkpoint(list_checkpoints(b / "checkpoints")[-1])
    assert got["step"] == expected["step"]
    for key in expected["generator"]:
        assert torch.equal(got["generator"][key], expected["generator"][key]), key


def _needs_dcgan_and_mnist(mnist_dir: Path) -> None:
    from gankit.plugins import get_registry

    registry = get_registry()
    for kind, name in (("generator", "dcgan"), ("critic", "dcgan"), ("data", "mnist")):
        if name not in {c.name for c in registry.of_kind(kind)}:
            pytest.skip(f"{kind} '{name}' is not registered yet (gankit/networks, gankit/data)")


@pytest.mark.slow
def test_mnist_dcgan_killed_resumed_finishes_with_images_and_plots(tmp_path: Path, mnist_dir: Path) -> None:
    _needs_dcgan_and_mnist(mnist_dir)
    overrides = ["run.device=cpu", f"data.params.root={json.dumps(str(mnist_dir))}", "data.params.limit=512",
                 "run.steps=30", "run.log_every=5", "run.sample_every=10", "run.checkpoint_every=5",
                 "run.keep_checkpoints=50", "run.batch_size=32"]
    _finish(_train(MNIST_DCGAN, tmp_path / "straight", overrides))
    out = tmp_path / "run"
    proc = _train(MNIST_DCGAN, out, overrides)
    _wait_for_checkpoint(proc, out, 15)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    _finish(_train(MNIST_DCGAN, out, overrides, "--resume"))
    _assert_complete(out, 30, 10)
    _assert_same_generator(out, tmp_path / "straight")
    from PIL import Image

    grid = Image.open(out / "samples" / "step-000000030.png")
    assert grid.size == (8 * 30 + 2, 8 * 30 + 2)  # 64 samples of 28x28 in an 8x8 grid, 2-pixel padding
    sample = subprocess.run([sys.executable, "-m", "gankit", "sample", str(out), "-n", "10", "--out",
                             str(tmp_path / "gen")], capture_output=True, text=True, cwd=ROOT)
    assert sample.returncode == 0, sample.stderr
    assert len(list((tmp_path / "gen").glob("0*.png"))) == 10 and (tmp_path / "gen" / "grid.png").exists()
