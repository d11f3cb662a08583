"""What a person looks at: sample grids and scatter plots from fixed latents, metrics.jsonl and the plot
refreshed at every log interval, TensorBoard (missing package; the writer path with a stand-in writer), the
progress bar and the line log, and images from ``gankit sample``."""

from __future__ import annotations

import io
import json
import sys
import types
from pathlib import Path
from typing import Any, ClassVar

import pytest
import torch
from conftest import tiny_spec
from engine_workers import image_folder_spec
from rich.console import Console

from gankit.engine.progress import ProgressReporter
from gankit.engine.trainer import Trainer, TrainOptions
from gankit.spec import validate_spec


def test_samples_use_the_same_latents_all_run_and_the_plot_follows_the_log(tmp_path: Path) -> None:
    spec = validate_spec(tiny_spec(run={"steps": 6, "log_every": 2, "sample_every": 3, "checkpoint_every": 6,
                                        "ema": 0.8}))
    out = tmp_path / "run"
    trainer = Trainer(spec, TrainOptions(out_dir=out, progress=False))
    seen: list[torch.Tensor] = []
    real_generate = trainer.generate

    def generate(z: torch.Tensor, labels: Any) -> torch.Tensor:
        seen.append(z.clone())
        return real_generate(z, labels)

    trainer.generate = generate  # type: ignore[method-assign]
    trainer.fit()
    assert sorted(p.name for p in (out / "samples").iterdir()) == ["step-000000003.png", "step-000000006.png"]
    fixed = [z for z in seen if len(z) == 2500]  # the scatter plots' latents (metrics draw their own)
    assert len(fixed) == 2 and torch.equal(fixed[0], fixed[1])
    # drawn in the background, complete when fit returns: after the last row was written
    assert (out / "plots" / "training.png").stat().st_mtime_ns >= (out / "metrics.jsonl").stat().st_mtime_ns
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [2, 4, 6, 6] and rows[-1]["kind"] == "eval"
    assert {"loss_critic", "loss_generator", "img_per_s", "lr_generator", "lr_critic"} <= set(rows[0])


def test_the_step_loop_never_waits_for_a_plot(tmp_path: Path, monkeypatch, capsys) -> None:
    """A plot that takes 0.4 s (or fails) costs the loop nothing; the last one is complete when fit returns,
    and a failing plot is one warning, however often it fails."""
    import itertools
    import time

    from gankit.engine import plotter

    drawn = tmp_path / "drawn.txt"  # the plot may be drawn in another process: it reports through a file

    def slow_plot(rows: list[dict[str, Any]], path: Path) -> None:
        time.sleep(0.4)
        with drawn.open("a") as fh:
            fh.write(f"{rows[-1]['step']}\n")

    monkeypatch.setattr(plotter, "plot_history", slow_plot)
    spec = validate_spec(tiny_spec(run={"steps": 8, "log_every": 1, "sample_every": 8, "checkpoint_every": 8},
                                   metrics=[]))
    stamps: list[float] = []
    Trainer(spec, TrainOptions(out_dir=tmp_path / "run", progress=False)).fit(
        on_step=lambda t: stamps.append(time.perf_counter()))
    gaps = [b - a for a, b in itertools.pairwise(stamps[:-1])]  # the last one draws the samples
    assert max(gaps) < 0.3, gaps  # seven log intervals, none waited for a 0.4 s plot
    steps = [int(s) for s in drawn.read_text().split()]
    assert steps and steps[-1] == 8 and len(steps) < 8  # the final state drawn; requests in between merged

    def broken_plot(rows: list[dict[str, Any]], path: Path) -> None:
        raise ValueError("no room for axes")

    monkeypatch.setattr(plotter, "plot_history", broken_plot)
    capsys.readouterr()
    Trainer(spec, TrainOptions(out_dir=tmp_path / "again", progress=False)).fit()
    err = capsys.readouterr().err
    assert err.count("warning: could not refresh plots/training.png: no room for axes") == 1, err


def test_samples_come_from_the_ema_generator(tmp_path: Path) -> None:
    spec = validate_spec(tiny_spec(run={"ema": 0.5}, metrics=[]))
    trainer = Trainer(spec, TrainOptions(out_dir=tmp_path, progress=False))
    for _ in range(3):
        trainer.train_step()
    assert trainer.steps.sampling_generator() is trainer.ema.module
    assert int(trainer.ema.n_averaged) == 3
    z = trainer.fixed_z[:5]
    with torch.no_grad():
        assert torch.equal(trainer.generate(z, None), trainer.ema.module.eval()(z))
        assert not torch.equal(trainer.generate(z, None), trainer.generator.eval()(z))


# ---------------------------------------------------------------------------------------- tensorboard
def test_tensorboard_requested_but_not_installed(cli, write_spec, tmp_path, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # as if the package were absent
    spec = write_spec(tiny_spec(run={"tensorboard": True}))
    result = cli("train", spec, "--out", tmp_path / "run", "--no-progress")
    assert result.code == 1
    assert result.err.strip().splitlines() == [
        "error: run.tensorboard: the tensorboard package is not installed (pip install tensorboard, "
        "or set run.tensorboard = false)"
    ]
    assert not (tmp_path / "run").exists()  # refused before anything was written


class FakeSummaryWriter:
    """Records what the engine logs, with SummaryWriter's signatures."""

    instances: ClassVar[list[FakeSummaryWriter]] = []

    def __init__(self, log_dir: str) -> None:
        self.log_dir = log_dir
        self.scalars: list[tuple[str, float, int]] = []
        self.images: list[tuple[str, tuple[int, ...], int]] = []
        self.closed = False
        self.flushes = 0
        FakeSummaryWriter.instances.append(self)

    def add_scalar(self, tag: str, value: float, global_step: int) -> None:
        self.scalars.append((tag, value, global_step))

    def add_image(self, tag: str, img: torch.Tensor, global_step: int) -> None:
        assert img.dim() == 3 and img.min() >= 0 and img.max() <= 1
        self.images.append((tag, tuple(img.shape), global_step))

    def flush(self) -> None:
        self.flushes += 1

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def fake_tensorboard(monkeypatch: pytest.MonkeyPatch) -> type[FakeSummaryWriter]:
    module = types.ModuleType("torch.utils.tensorboard")
    module.SummaryWriter = FakeSummaryWriter  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", module)
    FakeSummaryWriter.instances = []
    return FakeSummaryWriter


def test_tensorboard_gets_every_log_row_eval_and_sample_grid(fake_tensorboard, tmp_path: Path) -> None:
    spec = validate_spec(image_folder_spec(tmp_path, steps=4, tensorboard=True, sample_every=4))
    Trainer(spec, TrainOptions(out_dir=tmp_path / "run", progress=False)).fit()
    (writer,) = fake_tensorboard.instances
    assert writer.log_dir == str(tmp_path / "run" / "tensorboard") and writer.closed
    logged = {(tag, step) for tag, _, step in writer.scalars}
    for step in (2, 4):
        assert {("train/loss_critic", step), ("train/loss_generator", step), ("train/img_per_s", step),
                ("train/lr_generator", step)} <= logged
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [v for tag, v, step in writer.scalars if tag == "train/loss_critic"] == [r["loss_critic"] for r in rows]
    assert writer.images == [("samples", (3, 22, 22), 4)]  # 2x2 grid of 8x8 images with 2-pixel padding


def test_tensorboard_gets_eval_metrics(fake_tensorboard, tmp_path: Path) -> None:
    spec = validate_spec(tiny_spec(run={"steps": 2, "log_every": 2, "sample_every": 2, "checkpoint_every": 2,
                                        "tensorboard": True},
                                   metrics=[{"name": "mode-coverage", "params": {"n_samples": 100}}]))
    Trainer(spec, TrainOptions(out_dir=tmp_path / "run", progress=False)).fit()
    (writer,) = fake_tensorboard.instances
    assert ("eval/mode-coverage/modes", 2) in {(tag, step) for tag, _, step in writer.scalars}


# ------------------------------------------------------------------------------------------ progress
def test_line_log_has_step_speed_losses_and_eta(capsys) -> None:
    reporter = ProgressReporter(total=100, start=0, bar=False)
    with reporter:
        reporter.update(50, {"step": 50, "time": 1.0, "loss_critic": -0.5, "loss_generator": 0.25, "img_per_s": 1234.5,
                             "lr_generator": 1e-3, "lr_critic": 1e-3})
    line = capsys.readouterr().err.strip()
    assert line.startswith("step 50/100 1234 img/s loss_critic=-0.5 loss_generator=0.25 eta 0:00:")


def test_progress_bar_shows_speed_and_losses() -> None:
    reporter = ProgressReporter(total=10, start=0, bar=True)
    buffer = io.StringIO()
    reporter.console = Console(file=buffer, force_terminal=True, width=160)
    with reporter:
        reporter.advance(3)
        reporter.update(5, {"step": 5, "loss_critic": 0.125, "img_per_s": 99.0})
    text = buffer.getvalue()
    assert "5/10" in text and "99 img/s" in text and "loss_critic=0.125" in text


def test_only_rank_zero_reports(capsys) -> None:
    with ProgressReporter(total=10, start=0, enabled=False, bar=False) as reporter:
        reporter.update(5, {"loss_critic": 1.0})
        reporter.message("hello")
    assert capsys.readouterr().err == ""


# ----------------------------------------------------------------------------------------- sample
def test_sample_writes_images_and_a_grid(cli, tmp_path: Path) -> None:
    from conftest import to_toml

    spec = tmp_path / "spec.toml"
    spec.write_text(to_toml(image_folder_spec(tmp_path)))
    run = tmp_path / "run"
    assert cli("train", spec, "--out", run, "--no-progress").code == 0
    result = cli("sample", run, "-n", "5", "--out", tmp_path / "gen")
    assert result.code == 0, result.err
    names = sorted(p.name for p in (tmp_path / "gen").iterdir())
    assert names == ["000000.png", "000001.png", "000002.png", "000003.png", "000004.png", "grid.png"]
    from PIL import Image

    assert Image.open(tmp_path / "gen" / "000003.png").size == (8, 8)


def test_save_grid_shows_the_first_three_of_four_channels(tmp_path: Path) -> None:
    from gankit.engine.artifacts import save_grid

    grid = save_grid(torch.rand(5, 4, 6, 6) * 2 - 1, tmp_path / "g.png")  # 4 channels: the first 3 are shown
    assert grid.shape[0] == 3 and (tmp_path / "g.png").read_bytes()[:4] == b"\x89PNG"
