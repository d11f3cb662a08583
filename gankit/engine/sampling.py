"""Samples from a checkpoint, without the data set or the training setup (``gankit sample``).

A checkpoint carries its run manifest, whose resolved spec rebuilds the generator
(:func:`gankit.engine.generation.spec_from_checkpoint`: checked, import targets refused, sizes measured
before building); the data's shape comes from the data params' ``info()``, so the data files need not be
present. The EMA weights are used when the run kept an EMA, as during training.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from gankit.capabilities import generator_declarations
from gankit.engine.artifacts import image_grid, save_images, save_png, save_points_csv, save_scatter
from gankit.engine.checkpoint import load_checkpoint, resolve_checkpoint
from gankit.engine.context import resolve_device
from gankit.engine.generation import (
    check_seed,
    data_info,
    draw_latents,
    generate,
    load_generator,
    spec_from_checkpoint,
)
from gankit.errors import GankitError
from gankit.protocols import BuildEnv, DataInfo, default_cache_dir

__all__ = ["Generated", "generate_from_checkpoint", "load_generator", "write_generated"]


@dataclass
class Generated:
    samples: Tensor
    labels: Tensor | None
    info: DataInfo
    checkpoint: Path
    step: int
    ema: bool


def generate_from_checkpoint(
    source: Path, n: int, seed: int = 0, device: str = "cpu", use_ema: bool = True, batch_size: int = 256,
) -> Generated:
    """``n`` samples from the newest checkpoint in a run folder, or from a checkpoint file."""
    check_seed(seed)
    dev = resolve_device(device, where="--device")
    path = resolve_checkpoint(source)
    state = load_checkpoint(path, map_location="cpu")
    spec = spec_from_checkpoint(state, path, need_data=False)
    info = data_info(spec, default_cache_dir())
    env = BuildEnv(data=info, spec=spec, allow_imports=False)
    generator, ema = load_generator(state, spec, env, path, use_ema)
    generator.to(dev)
    z, labels = draw_latents(n, generator.latent_dim, info, dev, torch.Generator(device=dev).manual_seed(seed),
                             labels="cycle")
    samples = generate(generator, z, labels, batch_size).cpu()
    conditional = generator_declarations(spec.generator.params).needs_labels()
    return Generated(samples, labels.cpu() if conditional and labels is not None else None, info, path,
                     int(state.get("step", 0)), ema)


def write_generated(result: Generated, out: Path) -> list[Path]:
    """Images: one PNG each plus ``grid.png``. Points: ``scatter.png`` plus ``points.csv``."""
    try:
        return _write(result, out)
    except OSError as exc:
        raise GankitError(f"--out: cannot write to {out}: {exc.strerror or exc}") from None


def _write(result: Generated, out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    x = result.samples
    if result.info.is_image:
        written = save_images(x, out, result.info.value_range)
        grid = out / "grid.png"
        save_png(image_grid(x, result.info.value_range), grid)
        written.append(grid)
        if result.labels is not None:
            labels = out / "labels.csv"
            labels.write_text("file,label\n" + "".join(f"{i:06d}.png,{int(y)}\n" for i, y in enumerate(result.labels)),
                              encoding="utf-8")
            written.append(labels)
        return written
    points = out / "points.csv"
    save_points_csv(x, points, result.labels)
    scatter = out / "scatter.png"
    save_scatter(x.flatten(1)[:, :2] if x.flatten(1).shape[1] > 1 else x.flatten(1), scatter,
                 modes=result.info.modes, title=f"{len(x)} samples, step {result.step}")
    return [points, scatter]
