"""Evaluation outside training (``gankit eval``): a checkpoint's generator, or two folders of images.

A checkpoint carries its run manifest; its spec rebuilds the data set and the generator, and the metrics are
the spec's ``[[metrics]]`` or the ones named on the command line (built with the spec's params when the spec
has that metric, with defaults otherwise). Real samples are drawn exactly as the trainer draws them (the
same seeded subset), so reference statistics cached during training are reused here. Generated samples come
from the EMA generator when the run kept one.

Two folders are compared as they are: every image decoded (PNG, JPEG, ... anything PIL reads), converted to
grey when every image of both folders is grey and to RGB otherwise, resized (bilinear, antialiased) to the
size of the first real image when it differs, and scaled to ``[-1, 1]``. Unreadable files are reported all at
once, with their paths.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

import torch
from torch import Tensor

from gankit.engine.batches import REAL_SUBSET_SEED_OFFSET, real_subset
from gankit.engine.context import default_cache_dir, resolve_device
from gankit.engine.generation import check_seed, load_generator, sampler, spec_from_checkpoint
from gankit.errors import GankitError
from gankit.protocols import BuildEnv, DataInfo, EvalContext, Metric

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
    """Every metric on ``ctx``; values named like the trainer's (``fid``, ``precision-recall/recall``)."""
    results: dict[str, float] = {}
    for name, metric in metrics.items():
        for key, value in metric(ctx).items():
            results[key if key.startswith(name) else f"{name}/{key}"] = float(value)
    return results


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


def read_images(files: list[Path]) -> tuple[list[Any], list[str]]:
    """Decoded PIL images and, separately, one ``path: reason`` line per file that could not be read."""
    from PIL import Image, UnidentifiedImageError

    images, bad = [], []
    for path in files:
        try:
            with Image.open(path) as img:
                img.load()
                images.append(img.copy())
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
            bad.append(f"{path}: cannot read image: {exc}")
    return images, bad


def to_tensor(images: list[Any], channels: int, size: tuple[int, int]) -> Tensor:
    """PIL images -> uint8 ``(N, C, H, W)`` (kept as bytes: a quarter of float32's memory)."""
    import numpy as np
    from PIL import Image

    mode = "L" if channels == 1 else "RGB"
    out = torch.empty((len(images), channels, *size), dtype=torch.uint8)
    for i, img in enumerate(images):
        img = img.convert(mode)
        if (img.height, img.width) != size:
            img = img.resize((size[1], size[0]), Image.Resampling.BILINEAR)
        arr = np.asarray(img, dtype=np.uint8)
        out[i] = torch.from_numpy(arr.reshape(size[0], size[1], channels).copy()).permute(2, 0, 1)
    return out


def _grey(img: Any) -> bool:
    return img.mode in ("1", "L", "LA", "I", "I;16", "F")


def load_folders(real: Path, fake: Path) -> tuple[Tensor, Tensor]:
    """Both folders as uint8 ``(N, C, H, W)`` of one channel count and size; all unreadable files at once."""
    real_files, fake_files = list_images(real), list_images(fake)
    real_images, bad_real = read_images(real_files)
    fake_images, bad_fake = read_images(fake_files)
    bad = bad_real + bad_fake
    if bad:
        shown = bad[:20] + ([f"... and {len(bad) - 20} more unreadable files"] if len(bad) > 20 else [])
        raise GankitError("\n".join(shown))
    channels = 1 if all(_grey(img) for img in real_images + fake_images) else 3
    size = (real_images[0].height, real_images[0].width)
    return to_tensor(real_images, channels, size), to_tensor(fake_images, channels, size)


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
