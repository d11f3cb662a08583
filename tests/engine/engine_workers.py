"""Code that runs inside processes started by the engine tests (torch.multiprocessing spawn), and the helpers
the tests share. Kept out of the test modules so a spawned child imports only this."""

from __future__ import annotations

import contextlib
import os
import socket
import sys
import time
import traceback
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))


def image_folder_spec(tmp_path: Path, **run) -> dict:
    """A tiny labelled RGB image-folder data set (16 images of 8x8) and a spec training MLPs on it."""
    from conftest import tiny_spec
    from PIL import Image

    for cls in ("a", "b"):
        (tmp_path / "img" / cls).mkdir(parents=True)
        for i in range(8):
            Image.new("RGB", (8, 8), (40 * i, 100 if cls == "a" else 200, 0)).save(tmp_path / "img" / cls / f"{i}.png")
    return tiny_spec(run={"steps": 2, "batch_size": 4, "log_every": 2, "sample_every": 2, "checkpoint_every": 2,
                          "num_samples": 4, **run},
                     data={"name": "image-folder", "params": {"root": str(tmp_path / "img"), "resolution": 8}},
                     metrics=[])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def dist_env(rank: int, world: int, port: int, **extra: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world),
                      LOCAL_RANK=str(rank), OMP_NUM_THREADS="1", **extra)
    torch.set_num_threads(1)


class FixedLatents:
    """Stands in for ``Trainer._latents``: call ``k`` draws one global ``(world·B, d)`` batch seeded by ``k``
    and hands this rank rows ``rank, rank + world, ...`` — the interleaving the data stream uses — so one
    process with ``world·B`` and ``world`` processes with ``B`` see the same latents."""

    def __init__(self, trainer: Any, rank: int, world: int, global_batch: int) -> None:
        self.trainer, self.rank, self.world, self.global_batch = trainer, rank, world, global_batch
        self.calls = 0

    def __call__(self, n: int, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        if generator is not None:  # sampling / evaluation: not part of the comparison
            return torch.randn(n, self.trainer.latent_dim, generator=generator), None
        gen = torch.Generator().manual_seed(1000 + self.calls)
        self.calls += 1
        z = torch.randn(self.global_batch, self.trainer.latent_dim, generator=gen)
        return z[self.rank :: self.world][:n], None


def train_steps(spec_dict: dict[str, Any], out: Path, steps: int, rank: int, world: int,
                global_batch: int) -> dict[str, torch.Tensor]:
    """``steps`` training steps with fixed latents; returns the generator's and critic's weights."""
    from gankit.engine.trainer import Trainer, TrainOptions
    from gankit.spec import validate_spec

    spec = validate_spec(spec_dict)
    trainer = Trainer(spec, TrainOptions(out_dir=out, progress=False))
    trainer.steps.latents = FixedLatents(trainer, rank, world, global_batch)  # type: ignore[method-assign]
    for _ in range(steps):
        trainer.train_step()
    state = {f"generator.{k}": v.clone() for k, v in trainer.generator.state_dict().items()}
    state.update({f"critic.{k}": v.clone() for k, v in trainer.critic.state_dict().items()})
    return state


def thread_names() -> list[str] | None:
    """The names of this process's native threads (Linux), or None where /proc does not list them."""
    tasks = Path("/proc/self/task")
    if not tasks.is_dir():
        return None
    names = []
    for task in tasks.iterdir():
        with contextlib.suppress(OSError):
            names.append((task / "comm").read_text().strip())
    return sorted(names)


def _report(folder: Path, rank: int, result: Any) -> None:
    torch.save(result, folder / f"result-{rank}.pt")


def equivalence_worker(rank: int, world: int, port: int, spec_dict: dict[str, Any], folder: Path, steps: int,
                       global_batch: int) -> None:
    """Rank ``rank`` of ``world``: a few steps with fixed latents, then a short ``fit`` with artifacts."""
    dist_env(rank, world, port)
    try:
        from gankit.engine.distributed import shutdown
        from gankit.engine.trainer import Trainer, TrainOptions
        from gankit.spec import validate_spec

        result: dict[str, Any] = {"weights": train_steps(spec_dict, folder / "unused", steps, rank, world,
                                                         global_batch)}
        # a short fit: artifacts written by rank 0 only, RNG states of both ranks in the checkpoint
        fit_spec = {**spec_dict, "run": {**spec_dict["run"], "steps": 4, "log_every": 2, "checkpoint_every": 2,
                                         "sample_every": 4}}
        trainer = Trainer(validate_spec(fit_spec), TrainOptions(out_dir=folder / "run", progress=False))
        fit = trainer.fit()
        result.update(step=fit.step, metrics=fit.metrics, is_main=trainer.is_main,
                      rng=trainer.ctx.rng_state()["cpu"].clone())
        shutdown()
        result["threads_after_shutdown"] = thread_names()
        _report(folder, rank, result)
    except BaseException:
        _report(folder, rank, {"error": traceback.format_exc()})
        raise


def stalled_peer_worker(rank: int, world: int, port: int, folder: Path) -> None:
    """Rank 1 joins the group and then never takes part in a collective; rank 0 must fail, not hang."""
    dist_env(rank, world, port, GANKIT_DIST_TIMEOUT="3")
    from gankit.engine import distributed as gdist

    gdist.init_process_group(gdist.from_environment(), torch.device("cpu"))
    if rank == 1:  # alive but never joins the collective; leaves (without tearing down) once rank 0 reported
        deadline = time.monotonic() + 60
        while not (folder / "result-0.pt").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        os._exit(0)
    start = time.monotonic()
    try:
        gdist.all_reduce_mean(torch.ones(3))
        outcome: dict[str, Any] = {"error": None}
    except Exception as exc:  # the error under test
        outcome = {"error": f"{type(exc).__name__}: {exc}"}
    outcome["seconds"] = time.monotonic() - start
    _report(folder, rank, outcome)
    os._exit(0)
