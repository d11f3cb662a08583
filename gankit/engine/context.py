"""The run context every engine collaborator takes: device, ranks, autocast, latents and messages.

One :class:`EngineContext` per run. The step, the monitor, the state and the run folder read what they need
from it instead of from each other, and components get its public face, a
:class:`gankit.protocols.RunContext` (device, rank, world size, a per-rank seed, the cross-rank mean).
"""

from __future__ import annotations

import contextlib
import random
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import torch
from torch import Tensor

from gankit.devices import parse_device
from gankit.engine import distributed as gdist
from gankit.errors import GankitError
from gankit.protocols import RunContext

T = TypeVar("T")


def resolve_device(name: str, local_rank: int = 0, world_size: int = 1, where: str = "run.device") -> torch.device:
    """``auto`` | ``cpu`` | ``cuda`` | ``cuda:N`` | ``mps``; with several processes ``cuda`` means this
    process's GPU (``LOCAL_RANK``)."""
    try:
        kind, index = parse_device(name)
    except ValueError as exc:
        raise GankitError(f"{where}: '{name}': {exc}") from None
    if kind == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", local_rank % torch.cuda.device_count())
        return torch.device("cpu")
    if kind == "cuda":
        if not torch.cuda.is_available():
            raise GankitError(f"{where}: CUDA was requested but is not available on this machine (use 'auto')")
        if index is None:
            return torch.device("cuda", local_rank % torch.cuda.device_count())
        if world_size > 1:
            raise GankitError(
                f"{where}: '{name}' would put all {world_size} processes on one GPU; use 'cuda' or 'auto' "
                "(each process takes the GPU of its LOCAL_RANK)"
            )
        if index >= torch.cuda.device_count():
            raise GankitError(f"{where}: {name} does not exist ({torch.cuda.device_count()} CUDA device(s))")
        return torch.device("cuda", index)
    if kind == "mps" and not torch.backends.mps.is_available():
        raise GankitError(f"{where}: MPS was requested but is not available on this machine")
    return torch.device(kind)


class EngineContext:
    """Device, process group, seeding, autocast, latents and messages of one training run."""

    def __init__(self, run: Any) -> None:
        self.run = run
        self.denv = gdist.from_environment()
        self.device = resolve_device(run.device, self.denv.local_rank, self.denv.world_size)
        if self.device.type == "cuda":
            torch.cuda.set_device(self.device)
        gdist.init_process_group(self.denv, self.device)
        self.seed = run.seed * 1000 + self.denv.rank
        torch.manual_seed(self.seed)
        random.seed(self.seed)
        self.amp_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(run.precision)
        #: where messages go while a progress bar is on screen (set by the trainer)
        self.say: Callable[[str], None] | None = None

    @property
    def is_main(self) -> bool:
        return self.denv.is_main

    def run_context(self) -> RunContext:
        """What components are told about the run; their seed is distinct per rank and from the trainer's."""
        return RunContext(device=self.device, rank=self.denv.rank, world_size=self.denv.world_size,
                          seed=self.run.seed * 1000 + 500 + self.denv.rank, all_reduce_mean=gdist.all_reduce_mean)

    def autocast(self) -> contextlib.AbstractContextManager[Any]:
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp_dtype)

    def side_generator(self, purpose: int, step: int) -> torch.Generator:
        """A private RNG for sampling/evaluation, seeded by (seed, purpose, step, rank): never the training RNG."""
        gen = torch.Generator(device=self.device)
        gen.manual_seed(hash((self.run.seed, purpose, step, self.denv.rank)) & 0x7FFF_FFFF_FFFF_FFFF)
        return gen

    def message(self, text: str) -> None:
        """One line for the user, from rank 0 only (through the progress bar when it is shown)."""
        if not self.is_main:
            return
        if self.say is not None:
            self.say(text)
        else:
            print(text, file=sys.stderr, flush=True)

    def on_main(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on rank 0 and hand its result — or its error — to every rank."""
        result: Any = None
        error: str | None = None
        if self.is_main:
            try:
                result = fn()
            except GankitError as exc:
                error = str(exc)
        if self.denv.enabled:
            result, error = gdist.broadcast_object((result, error))
        if error is not None:
            raise GankitError(error)
        return result

    def rng_state(self) -> dict[str, Tensor]:
        rng = {"cpu": torch.get_rng_state()}
        if self.device.type == "cuda":
            rng["cuda"] = torch.cuda.get_rng_state(self.device)
        return rng

    def load_rng_state(self, ranks: list[dict[str, Tensor]], step: int) -> None:
        """This rank's saved RNG state; with another world size, fresh distinct streams per rank."""
        if len(ranks) == self.denv.world_size:
            rng = ranks[self.denv.rank]
            torch.set_rng_state(rng["cpu"].cpu())
            if self.device.type == "cuda" and "cuda" in rng:
                torch.cuda.set_rng_state(rng["cuda"].cpu(), self.device)
        else:  # the run is no longer bit-reproducible
            torch.manual_seed(hash((self.seed, step)) & 0x7FFF_FFFF_FFFF_FFFF)
