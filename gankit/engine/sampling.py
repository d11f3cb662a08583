"""Samples from a checkpoint, without the data set or the training setup (``gankit sample``).

A checkpoint carries its run manifest, whose resolved spec rebuilds the generator; the data's shape comes
from the data params' ``info()``, so the data files need not be present. The EMA weights are used when the
run kept an EMA, as during training.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from gankit.engine.artifacts import image_grid, save_images, save_png, save_points_csv, save_scatter
from gankit.engine.checkpoint import load_checkpoint, resolve_checkpoint
from gankit.errors import GankitError
from gankit.protocols import BuildEnv, DataInfo


@dataclass
class Generated:
    samples: Tensor
    labels: Tensor | None
    info: DataInfo
    checkpoint: Path
    step: int
    ema: bool


def _spec_from_manifest(state: dict[str, Any], source: Path) -> Any:
    from pydantic import ValidationError

    from gankit.spec import spec_model

    try:
        manifest = json.loads(state.get("manifest") or "")
        data = manifest["spec"]
    except (json.JSONDecodeError, KeyError, TypeError):
        raise GankitError(f"{source}: the checkpoint has no run manifest to rebuild its generator from") from None
    try:
        # no cross-checks: they look for data files, which sampling does not need
        return spec_model().model_validate(data)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"])
        raise GankitError(
            f"{source}: its spec no longer validates with the installed plugins ({where}: {first['msg']})"
        ) from None


def _data_info(spec: Any) -> DataInfo:
    info = getattr(spec.data.params, "info", None)
    if callable(info):
        return info()
    from gankit.build import build_data

    return build_data(spec).info


def load_generator(state: dict[str, Any], spec: Any, env: BuildEnv, source: Path, use_ema: bool) -> tuple[Any, bool]:
    """The generator with the checkpoint's weights (the EMA ones when kept and ``use_ema``)."""
    generator = spec.generator.component.build(spec.generator.params, env)
    ema = use_ema and state.get("ema") is not None
    weights = state["generator"]
    if ema:
        weights = {k.removeprefix("module."): v for k, v in state["ema"].items() if k.startswith("module.")}
    try:
        generator.load_state_dict(weights)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0]
        raise GankitError(f"{source}: the weights do not fit the generator its spec builds: {first}") from None
    return generator, ema


def generate_from_checkpoint(
    source: Path, n: int, seed: int = 0, device: str = "cpu", use_ema: bool = True, batch_size: int = 256,
) -> Generated:
    """``n`` samples from the newest checkpoint in a run folder, or from a checkpoint file."""
    from gankit.engine.trainer import resolve_device

    if not re.fullmatch(r"auto|cpu|cuda|cuda:\d+|mps", device):
        raise GankitError(f"--device: '{device}' is not one of auto, cpu, cuda, cuda:N, mps")
    path = resolve_checkpoint(source)
    dev = resolve_device(device)
    state = load_checkpoint(path, map_location="cpu")
    spec = _spec_from_manifest(state, path)
    info = _data_info(spec)
    env = BuildEnv(data=info, spec=spec)
    generator, ema = load_generator(state, spec, env, path, use_ema)
    generator.to(dev).eval()
    gen = torch.Generator(device=dev).manual_seed(seed)
    labels = None
    if info.num_classes:
        labels = torch.arange(n, device=dev) % info.num_classes
    chunks = []
    with torch.no_grad():
        for i in range(0, n, batch_size):
            m = min(batch_size, n - i)
            z = torch.randn(m, generator.latent_dim, device=dev, generator=gen)
            chunks.append(generator(z, labels[i : i + m] if labels is not None else None).float().cpu())
    conditional = getattr(spec.generator.params, "needs_labels", lambda: False)()
    return Generated(torch.cat(chunks), labels.cpu() if conditional and labels is not None else None, info, path,
                     int(state.get("step", 0)), ema)


def write_generated(result: Generated, out: Path) -> list[Path]:
    """Images: one PNG each plus ``grid.png``. Points: ``scatter.png`` plus ``points.csv``."""
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
