"""Evaluation outside training (``gankit eval``): a checkpoint's generator, or two folders of images.

A checkpoint carries its run manifest; its spec rebuilds the data set and the generator, and the metrics are
the spec's ``[[metrics]]`` or the ones named on the command line (built with the spec's params when the spec
has that metric, with defaults otherwise). Real samples are drawn exactly as the trainer draws them (the
same seeded subset), so reference statistics cached during training are reused here. Generated samples come
from the EMA generator when the run kept one.

Two folders are compared as they are: every image decoded (PNG, JPEG, ... anything PIL reads), converted to
grey when every image of both folders is grey and to RGB otherwise, resized (bilinear) to the most common
size of the real images (at most 512 a side; never the size of one odd file) when it differs, and scaled to
``[-1, 1]``. Sizes are read from the headers first: unreadable files and images over Pillow's decompression-
bomb limit are reported all at once, with their paths.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

import torch
from torch import Tensor

from gankit.engine.batches import REAL_SUBSET_SEED_OFFSET, real_subset
from gankit.engine.context import resolve_device
from gankit.engine.generation import check_seed, load_generator, sampler, spec_from_checkpoint
from gankit.errors import GankitError
from gankit.protocols import BuildEnv, DataInfo, EvalContext, Metric, default_cache_dir

#: what ``gankit eval --real/--fake`` computes when no --metric is given
FOLDER_METRICS = ("fid", "kid", "is", "precision-recall", "density-coverage")
__all__ = ["default_cache_dir", "evaluate_checkpoint", "evaluate_folders", "run_metrics", "spec_from_checkpoint"]

@dataclass
class EvalResult:
    metrics: dict[str, float]
    #: what was evaluated, for the JSON file and the table's title
    about: dict[str, Any] = field(default_factory=dict)


# ------------------------------------------------------------------------------------- metrics
def metric_tables(
    spec_metrics: Sequence[Any], names: Sequence[str], default: Sequence[str] = ()
) -> list[tuple[str, Any, Any]]:
    """``(name, component, params)`` to build: the spec's metrics, or the ``names`` asked for (the spec's
    params for a name the spec has, defaults otherwise); ``default`` when neither gives any."""
    from gankit.plugins import require

    if not names:
        if spec_metrics:
            return [(t.name, t.component, t.params) for t in spec_metrics]
        names = list(default)
    if not names:
        raise GankitError("the run's spec has no [[metrics]]; name the metrics to compute with --metric "
                          "(e.g. --metric fid)")
    chosen: list[tuple[str, Any, Any]] = []
    for name in names:
        in_spec = [t for t in spec_metrics if t.name == name or t.component.qualified_name == name]
        if in_spec:
            chosen += [(t.name, t.component, t.params) for t in in_spec]
        else:
            component = require("metric", name)
            chosen.append((component.name, component, component.params_model()))
    return chosen


def override_params(params: Any, where: str, **updates: Any) -> Any:
    """``params`` with the fields it has among ``updates`` replaced (re-validated); others are ignored."""
    from pydantic import ValidationError

    fields = type(params).model_fields
    applied = {k: v for k, v in updates.items() if v is not None and k in fields}
    if not applied:
        return params
    try:
        return type(params).model_validate({**params.model_dump(), **applied})
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        loc = ".".join(str(p) for p in first["loc"])
        raise GankitError(f"{where}.{loc}: {first['msg']}") from None


def fixed_by_model(params: Any, name: str) -> bool:
    """Whether the params model declares field ``name`` as one fixed value (a one-value ``Literal``): then an
    override does not apply to it (e.g. a metric that only works with one extractor)."""
    info = type(params).model_fields.get(name)
    return info is not None and get_origin(info.annotation) is Literal and len(get_args(info.annotation)) == 1


def build_metrics(tables: list[tuple[str, Any, Any]], env: BuildEnv, n: int | None = None,
                  n_real: int | None = None, extractor: str | None = None) -> dict[str, Metric]:
    """Build each metric, with ``n_samples``/``n_real``/``extractor`` overridden where its params take them."""
    built: dict[str, Metric] = {}
    for name, component, params in tables:
        key = name if name not in built else f"{name}.{len(built)}"
        updates: dict[str, Any] = {"n_samples": n, "n_real": n_real}
        if not fixed_by_model(params, "extractor"):
            updates["extractor"] = extractor
        built[key] = component.build(override_params(params, f"metric '{name}'", **updates), env)
    return built


def run_metrics(metrics: dict[str, Metric], ctx: EvalContext) -> dict[str, float]:
    """Every metric on ``ctx``; values named like the trainer's (``fid``, ``precision-recall/recall``).

    Under several processes (``ctx.world_size > 1``, ``torch.distributed`` initialised) each metric is computed
    over the samples of *all* ranks, as one process would compute it, and every rank returns rank 0's values.
    Averaging per-rank values instead would be wrong for every metric that is not a mean over samples (modes
    captured, FID, recall ...). A metric that combines the ranks itself — it declares ``combines_ranks = True``,
    as the built-in feature metrics do: each rank extracts the features of its share and they are gathered —
    gets ``ctx`` as it is. Every other metric gets :func:`gathered_context`: a one-process view in which
    ``sample_fake(n)`` returns all ``n`` samples, each rank having generated its share, so a metric written for
    one process is right under DDP without knowing about ranks.
    """
    from gankit.engine import distributed as gdist

    several = several_ranks(ctx)
    whole = gathered_context(ctx) if several else ctx
    results: dict[str, float] = {}
    for name, metric in metrics.items():
        view = ctx if several and getattr(metric, "combines_ranks", False) is True else whole
        for key, value in metric(view).items():
            results[key if key.startswith(name) else f"{name}/{key}"] = float(value)
    # the ranks computed the same numbers from the same samples; rank 0's copy makes them identical to the
    # last bit even where a kernel is not deterministic
    return gdist.broadcast_object(results) if several else results


def several_ranks(ctx: EvalContext) -> bool:
    """Whether ``ctx`` is one of several processes that evaluate together."""
    from gankit.engine import distributed as gdist

    return ctx.world_size > 1 and gdist.active()


def gathered_context(ctx: EvalContext) -> EvalContext:
    """A one-process view of a rank's ``ctx``: ``sample_fake(n)`` is a collective in which each rank generates
    its :func:`~gankit.engine.distributed.share` of ``n`` and every rank receives all ``n`` samples (and labels),
    in rank order; ``world_size`` is 1 and the memo is its own. The rank is kept, so only rank 0 writes shared
    caches. Every rank must make the same ``sample_fake`` calls, as the same metric code on each rank does."""
    from gankit.engine import distributed as gdist

    rank, world = ctx.rank, ctx.world_size

    def sample_fake(n: int) -> tuple[Tensor, Tensor | None]:
        # every rank draws at least one sample so that all know the sample's shape; extra rows are cut
        x, y = ctx.sample_fake(max(1, gdist.share(n, rank, world)))
        x_all = gdist.all_gather_rows(x.contiguous())[:n]
        y_all = gdist.all_gather_rows(y.contiguous())[:n] if y is not None else None
        return x_all, y_all

    return EvalContext(info=ctx.info, device=ctx.device, sample_fake=sample_fake, sample_real=ctx.sample_real,
                       cache_dir=ctx.cache_dir, rank=rank, world_size=1)


# ---------------------------------------------------------------------------------- checkpoints
def evaluate_checkpoint(
    source: Path, names: Sequence[str] = (), n: int | None = None, extractor: str | None = None,
    device: str = "auto", seed: int = 0, use_ema: bool = True, allow_imports: bool = False,
    cache_dir: Path | None = None,
) -> EvalResult:
    """Evaluate the newest checkpoint of a run folder, or a checkpoint file.

    Everything is rebuilt from the checkpoint's spec, which the user did not write: nothing it names is
    imported, whatever ``allow_imports`` says (it applies to image folders only)."""
    from gankit.build import build_data
    from gankit.engine.checkpoint import load_checkpoint, resolve_checkpoint

    check_seed(seed)
    dev = resolve_device(device, where="--device")
    cache = cache_dir or default_cache_dir()
    path = resolve_checkpoint(source)
    state = load_checkpoint(path, map_location="cpu")
    spec = spec_from_checkpoint(state, path)
    data = build_data(spec, cache)
    env = BuildEnv(data=data.info, spec=spec, cache_dir=cache, allow_imports=False)
    metrics = build_metrics(metric_tables(spec.metrics, names), env, n=n, extractor=extractor)
    generator, ema = load_generator(state, spec, env, path, use_ema)
    generator.to(dev).eval()
    datasets: dict[str, Any] = {}

    def sample_real(count: int, split: str = "train") -> tuple[Tensor, Tensor | None]:
        if split not in datasets:
            datasets[split] = data.dataset(split)  # type: ignore[arg-type]
        return real_subset(datasets[split], count, spec.run.seed, dev, data.info.labelled)

    rng = torch.Generator(device=dev).manual_seed(seed)
    ctx = EvalContext(info=data.info, device=dev, cache_dir=cache, sample_real=sample_real,
                      sample_fake=sampler(generator, data.info, dev, rng, spec.run.batch_size))
    results = run_metrics(metrics, ctx)
    step = int(state.get("step", 0))
    return EvalResult(results, {"checkpoint": str(path), "step": step, "ema": ema, "seed": seed})


# -------------------------------------------------------------------------------------- folders
def list_images(folder: Path) -> list[Path]:
    from gankit.data import IMAGE_SUFFIXES

    if not folder.is_dir():
        raise GankitError(f"{folder}: {'no such folder' if not folder.exists() else 'not a folder'}")
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise GankitError(f"{folder}: holds no image ({', '.join(IMAGE_SUFFIXES)})")
    return files


def load_folders(real: Path, fake: Path) -> tuple[Tensor, Tensor]:
    """Both folders as uint8 ``(N, C, H, W)`` of one channel count and size; all unreadable files at once.
    Sizes come from the headers (a decompression bomb is refused by name) and every image is resized to the
    real folder's most common size, at most 512 a side — never to the size of one large file."""
    from gankit.data.folder import read_image_folders

    return read_image_folders(list_images(real), list_images(fake))


def folder_sampler(images: Tensor, device: torch.device) -> Callable[[int], Tensor]:
    """``n`` images (all when ``n`` exceeds them) from a seeded permutation, as floats in ``[-1, 1]``."""
    order = torch.randperm(len(images), generator=torch.Generator().manual_seed(REAL_SUBSET_SEED_OFFSET))

    def take(n: int) -> Tensor:
        return images[order[:n]].to(device).float().div_(127.5).sub_(1.0)

    return take


def evaluate_folders(
    real: Path, fake: Path, names: Sequence[str] = (), n: int | None = None, extractor: str | None = None,
    device: str = "auto", allow_imports: bool = False, cache_dir: Path | None = None,
) -> EvalResult:
    """Compare a folder of generated images with a folder of real ones."""
    dev = resolve_device(device, where="--device")
    cache = cache_dir or default_cache_dir()
    real_x, fake_x = load_folders(real, fake)
    info = DataInfo(shape=tuple(real_x.shape[1:]), key=f"folder-{real.resolve()}")
    env = BuildEnv(data=info, spec=None, cache_dir=cache, allow_imports=allow_imports)
    n_fake = min(n, len(fake_x)) if n is not None else len(fake_x)
    metrics = build_metrics(metric_tables([], names, FOLDER_METRICS), env, n=n_fake, n_real=len(real_x),
                            extractor=extractor)
    take_real, take_fake = folder_sampler(real_x, dev), folder_sampler(fake_x, dev)
    ctx = EvalContext(info=info, device=dev, cache_dir=cache, sample_real=lambda count, split="train": (
        take_real(count), None), sample_fake=lambda count: (take_fake(count), None))
    results = run_metrics(metrics, ctx)
    return EvalResult(results, {"real": str(real), "fake": str(fake), "n_real": len(real_x), "n_fake": n_fake,
                                "shape": list(info.shape)})
