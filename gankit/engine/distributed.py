"""Process-group setup and gradient averaging for data-parallel training (torchrun / Slurm / one process).

Why not ``DistributedDataParallel``: a GAN step calls the critic several times (real, fake, interpolates for
gradient penalties, which need double backward), and DDP's bucketed all-reduce hooks fire once per
backward of one forward. Averaging gradients explicitly after each ``backward`` — as NVlabs'
stylegan2-ada-pytorch does — is equivalent for plain data parallelism and correct for every loss shape:
every loss is a mean over its batch, so the mean of the per-rank gradients is the gradient of the loss over
the global batch (gradient penalties included: each is a per-sample mean, computed on each rank's slice).

Every collective here goes through :func:`_guarded`: a rank that died or stalled makes the others fail with
one clear :class:`CollectiveError` after ``GANKIT_DIST_TIMEOUT`` seconds instead of hanging forever.
"""

from __future__ import annotations

import contextlib
import datetime
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from gankit.errors import GankitError, TrainingError

TIMEOUT_ENV = "GANKIT_DIST_TIMEOUT"
DEFAULT_TIMEOUT_S = 600.0

#: a gloo group for small host-side agreements (stop requests) when the main backend is nccl
_CONTROL: Any = None


class CollectiveError(TrainingError):
    """A collective failed: another process crashed, was killed, or stalled past the timeout."""


@dataclass(frozen=True)
class DistEnv:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def _int_env(name: str) -> int:
    value = os.environ[name]
    try:
        return int(value)
    except ValueError:
        raise GankitError(f"environment variable {name}={value!r} is not an integer") from None


def from_environment() -> DistEnv:
    """Read torchrun's variables, or those of a Slurm job step (``srun``); one process when neither is set.

    Under Slurm only a job *step* counts (``SLURM_STEP_NUM_TASKS``): a plain ``python`` in a batch script
    is one process even when the allocation has several tasks.
    """
    env = os.environ
    if "WORLD_SIZE" in env and "RANK" in env:
        return DistEnv(_int_env("RANK"), _int_env("WORLD_SIZE"), int(env.get("LOCAL_RANK", "0")))
    if "SLURM_STEP_NUM_TASKS" in env and "SLURM_PROCID" in env and _int_env("SLURM_STEP_NUM_TASKS") > 1:
        if "MASTER_ADDR" not in env:
            raise GankitError(
                f"running as {env['SLURM_STEP_NUM_TASKS']} Slurm tasks but MASTER_ADDR is not set; add "
                "'export MASTER_ADDR=$(scontrol show hostnames \"$SLURM_JOB_NODELIST\" | head -n 1)' to the job script"
            )
        return DistEnv(_int_env("SLURM_PROCID"), _int_env("SLURM_STEP_NUM_TASKS"), int(env.get("SLURM_LOCALID", "0")))
    return DistEnv()


def collective_timeout() -> datetime.timedelta:
    """How long a collective may wait for the other processes (``GANKIT_DIST_TIMEOUT`` seconds, default 600)."""
    raw = os.environ.get(TIMEOUT_ENV, "")
    if not raw:
        return datetime.timedelta(seconds=DEFAULT_TIMEOUT_S)
    try:
        seconds = float(raw)
    except ValueError:
        seconds = math.nan
    if not (seconds > 0 and math.isfinite(seconds)):
        raise GankitError(f"{TIMEOUT_ENV}={raw!r}: expected a positive number of seconds")
    return datetime.timedelta(seconds=seconds)


def init_process_group(denv: DistEnv, device: torch.device) -> None:
    """Join the process group: nccl on CUDA, gloo otherwise. A no-op for one process."""
    global _CONTROL
    if not denv.enabled or dist.is_initialized():
        return
    _import_dynamo_first()
    os.environ.setdefault("RANK", str(denv.rank))
    os.environ.setdefault("WORLD_SIZE", str(denv.world_size))
    os.environ.setdefault("LOCAL_RANK", str(denv.local_rank))
    os.environ.setdefault("MASTER_PORT", "29500")  # Slurm: torchrun always sets it
    backend = "nccl" if device.type == "cuda" else "gloo"
    timeout = collective_timeout()
    with _guarded("joining the process group"):
        kwargs: dict[str, Any] = {"backend": backend, "timeout": timeout}
        attempt = os.environ.get("TORCHELASTIC_RESTART_COUNT")
        if attempt is not None:
            # torchrun keeps one store across restarts: without a per-attempt prefix, restarted workers read
            # the dead workers' addresses from the last attempt and cannot connect
            from torch.distributed.rendezvous import rendezvous

            store, _, _ = next(rendezvous("env://", denv.rank, denv.world_size, timeout=timeout))
            kwargs.update(store=dist.PrefixStore(f"gankit/attempt-{attempt}", store), rank=denv.rank,
                          world_size=denv.world_size)
        if backend == "nccl":
            dist.init_process_group(device_id=device, **kwargs)
            _CONTROL = dist.new_group(backend="gloo", timeout=timeout)
        else:
            dist.init_process_group(**kwargs)
            _CONTROL = None


def _import_dynamo_first() -> None:
    """Import ``torch._dynamo`` before any process group exists.

    Building an optimizer or ``torch.compile`` imports it; when that first happens after
    ``init_process_group`` (torch 2.14, measured), the default group outlives ``destroy_process_group``. Its gloo
    threads are then torn down during interpreter finalisation, which now and then aborts a rank that has
    finished its work (SIGABRT, "terminate called without an active exception") and fails the whole run.
    """
    import torch._dynamo  # noqa: F401


def shutdown() -> None:
    global _CONTROL
    if dist.is_initialized():
        with contextlib.suppress(Exception):  # a peer that is already gone must not turn exit into an error
            dist.destroy_process_group()
    _CONTROL = None


def active() -> bool:
    return dist.is_initialized() and dist.get_world_size() > 1


@contextlib.contextmanager
def _guarded(what: str) -> Iterator[None]:
    try:
        yield
    except RuntimeError as exc:  # DistBackendError, gloo's "Connection closed by peer", timeouts
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        seconds = collective_timeout().total_seconds()
        raise CollectiveError(
            f"{what} failed: another process crashed, was killed or stalled "
            f"(collectives wait {seconds:g} s, set by {TIMEOUT_ENV}): {first}"
        ) from exc


def broadcast_module(module: nn.Module) -> None:
    """Make every rank start from rank 0's parameters and buffers."""
    if not active():
        return
    with _guarded("broadcasting initial weights"), torch.no_grad():
        for tensor in [*module.parameters(), *module.buffers()]:
            dist.broadcast(tensor.data, src=0)


def average_gradients(module: nn.Module) -> None:
    """All-reduce-average the gradients of ``module``: one flattened buffer (one collective) per dtype.

    Only parameters with a gradient take part; every rank runs the same code, so they agree on which.
    """
    if not active():
        return
    by_dtype: dict[torch.dtype, list[torch.Tensor]] = {}
    for p in module.parameters():
        if p.grad is not None:
            by_dtype.setdefault(p.grad.dtype, []).append(p.grad)
    world = dist.get_world_size()
    with _guarded("averaging gradients"):
        for grads in by_dtype.values():
            flat = torch.cat([g.reshape(-1) for g in grads])
            dist.all_reduce(flat)
            flat /= world
            offset = 0
            for g in grads:
                n = g.numel()
                g.copy_(flat[offset : offset + n].view_as(g))
                offset += n


def all_reduce_mean(t: torch.Tensor) -> torch.Tensor:
    """The mean of ``t`` over ranks (a new tensor; ``t`` itself when there is one process)."""
    if active():
        t = t.clone()
        with _guarded("averaging values over processes"):
            dist.all_reduce(t)
        t /= dist.get_world_size()
    return t


def all_reduce_min(t: torch.Tensor) -> torch.Tensor:
    if active():
        t = t.clone()
        with _guarded("combining values over processes"):
            dist.all_reduce(t, op=dist.ReduceOp.MIN)
    return t


def any_rank(flag: bool) -> bool:
    """Whether ``flag`` is true on any rank: a host-side (gloo) collective, so no device synchronisation."""
    if not active():
        return flag
    t = torch.tensor([int(flag)], dtype=torch.int32)
    with _guarded("agreeing on a stop request"):
        dist.all_reduce(t, op=dist.ReduceOp.MAX, group=_CONTROL)
    return bool(t.item())


def broadcast_object(obj: Any) -> Any:
    """Rank 0's ``obj`` on every rank (small picklable values: a path, an error message)."""
    if not active():
        return obj
    box = [obj]
    with _guarded("sharing a value from rank 0"):
        dist.broadcast_object_list(box, src=0, group=_CONTROL)
    return box[0]


def gather_states(state: dict[str, torch.Tensor]) -> list[dict[str, torch.Tensor]]:
    """Every rank's ``state`` (CPU tensors, e.g. RNG states), in rank order, on every rank."""
    if not active():
        return [state]
    out: list[Any] = [None] * dist.get_world_size()
    with _guarded("gathering RNG states"):
        dist.all_gather_object(out, {k: v.cpu() for k, v in state.items()}, group=_CONTROL)
    return out


def share(n: int, rank: int, world: int) -> int:
    """How many of ``n`` items rank ``rank`` of ``world`` takes: ``n // world``, one more for the first
    ``n % world`` ranks — the split under which rank order reassembles items ``0 .. n-1``."""
    return n // world + (1 if rank < n % world else 0)


def all_gather_rows(t: torch.Tensor) -> torch.Tensor:
    """Every rank's rows of ``t`` (their number may differ; the other dimensions may not), concatenated in
    rank order, on every rank: the same tensor everywhere. ``t`` itself when there is one process."""
    if not active():
        return t
    world = dist.get_world_size()
    with _guarded("gathering samples from every process"):
        count = torch.tensor([len(t)], dtype=torch.int64, device=t.device)
        counts_t = [torch.zeros_like(count) for _ in range(world)]
        dist.all_gather(counts_t, count)
        counts = [int(c) for c in counts_t]
        padded = t.new_zeros((max(counts), *t.shape[1:]))
        padded[: len(t)] = t
        parts = [torch.empty_like(padded) for _ in range(world)]
        dist.all_gather(parts, padded)
    return torch.cat([part[:c] for part, c in zip(parts, counts, strict=True)])
