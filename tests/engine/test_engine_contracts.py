"""The engine's side of the component contracts: one RunContext per run, ``bind`` before any checkpoint is
loaded, ``augment=`` and ``run=`` in every LossInputs, the augmentation's ``after_critic_step`` and its state
in checkpoints — round-tripped bit-exactly through a resume."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from conftest import tiny_spec

from gankit.engine import trainer as trainer_module
from gankit.engine.checkpoint import list_checkpoints, load_checkpoint
from gankit.engine.trainer import Trainer, TrainOptions
from gankit.protocols import RunContext
from gankit.spec import validate_spec


class CountingAugment:
    """Counts what the engine calls, keeps a random stream of its own (a state a resume must restore)."""

    def __init__(self, events: list[str]) -> None:
        self.events = events
        self.ctx: RunContext | None = None
        self.rng: torch.Generator | None = None
        self.count = 0
        self.draws = torch.zeros(0)
        self.seen: list[tuple[str, Any, Any]] = []

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return x

    def bind(self, ctx: RunContext) -> None:
        self.events.append("augment.bind")
        self.ctx = ctx
        self.rng = torch.Generator().manual_seed(ctx.seed)

    def after_critic_step(self, b: Any) -> None:
        assert self.rng is not None
        self.count += 1
        self.draws = torch.cat([self.draws, torch.rand(1, generator=self.rng)])
        self.seen.append((b.step, b.augment, b.run))

    def state_dict(self) -> dict[str, Any]:
        assert self.rng is not None
        return {"count": self.count, "draws": self.draws.clone(), "rng": self.rng.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        assert self.rng is not None
        self.events.append("augment.load")
        self.count, self.draws = state["count"], state["draws"].clone()
        self.rng.set_state(state["rng"])


@pytest.fixture
def wired(monkeypatch: pytest.MonkeyPatch) -> list[CountingAugment]:
    """Every Trainer built in the test gets a CountingAugment, and a divergence that records ``bind`` and
    the LossInputs of its generator loss."""
    made: list[CountingAugment] = []
    original = trainer_module.build_components

    def build(*args: Any, **kwargs: Any) -> Any:
        parts = original(*args, **kwargs)
        events: list[str] = []
        parts.augment = CountingAugment(events)
        made.append(parts.augment)
        divergence = parts.divergence
        divergence.bind = lambda ctx: events.append(f"divergence.bind:{ctx.rank}/{ctx.world_size}")
        generator_loss = divergence.generator_loss

        def spy(b: Any) -> torch.Tensor:
            parts.augment.seen.append((b.step, b.augment, b.run))
            return generator_loss(b)

        divergence.generator_loss = spy
        return parts

    monkeypatch.setattr(trainer_module, "build_components", build)
    return made


class _Stop(Exception):
    """Ends a run at a chosen step, as a crash would."""


def _spec() -> Any:
    return validate_spec(tiny_spec(run={"steps": 6, "critic_steps": 2, "log_every": 3, "checkpoint_every": 3,
                                        "sample_every": 6, "keep_checkpoints": 5}, metrics=[]))


def test_every_loss_gets_the_augment_and_the_run_context(wired: list[CountingAugment], tmp_path: Path) -> None:
    Trainer(_spec(), TrainOptions(out_dir=tmp_path / "run", progress=False)).fit()
    augment = wired[0]
    assert augment.events[:2] == ["divergence.bind:0/1", "augment.bind"]
    assert augment.count == 12  # after every critic step: 6 steps x 2
    steps = [s for s, _, _ in augment.seen]
    assert steps.count("critic") == 12 and steps.count("generator") == 6
    assert all(a is augment and r is augment.ctx for _, a, r in augment.seen)  # one RunContext per run
    ctx = augment.ctx
    assert ctx is not None and ctx.device == torch.device("cpu") and (ctx.rank, ctx.world_size) == (0, 1)
    assert torch.equal(ctx.all_reduce_mean(torch.tensor([2.0])), torch.tensor([2.0]))
    saved = load_checkpoint(list_checkpoints(tmp_path / "run" / "checkpoints")[-1])
    assert saved["augment"]["count"] == 12


def test_the_augment_state_resumes_bit_exactly(wired: list[CountingAugment], tmp_path: Path) -> None:
    Trainer(_spec(), TrainOptions(out_dir=tmp_path / "straight", progress=False)).fit()
    straight = wired[-1]

    def stop(t: Trainer) -> None:
        if t.step == 3:
            raise _Stop

    with pytest.raises(_Stop):
        Trainer(_spec(), TrainOptions(out_dir=tmp_path / "split", progress=False)).fit(on_step=stop)
    resumed_trainer = Trainer(_spec(), TrainOptions(out_dir=tmp_path / "split", resume=True, progress=False))
    resumed_trainer.fit()
    resumed = wired[-1]
    assert resumed.events.index("augment.bind") < resumed.events.index("augment.load")  # bind, then load
    assert resumed.count == straight.count == 12
    assert torch.equal(resumed.draws, straight.draws)
    a = load_checkpoint(list_checkpoints(tmp_path / "straight" / "checkpoints")[-1])
    b = load_checkpoint(list_checkpoints(tmp_path / "split" / "checkpoints")[-1])
    assert all(torch.equal(a["generator"][k], b["generator"][k]) for k in a["generator"])
    assert torch.equal(a["augment"]["rng"], b["augment"]["rng"])
