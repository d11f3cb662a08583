"""What a person looks at: ``metrics.jsonl``, sample grids / scatter plots, and a plot of losses and metrics.

Layout of a run folder::

    manifest.json          resolved spec, spec hash, versions, git commit
    metrics.jsonl          one JSON object per log interval / evaluation
    plots/training.png     losses and metrics over steps (refreshed at each log interval)
    samples/step-N.png     sample grid (images) or scatter plot (2-D data), fixed latents
    checkpoints/step-N.pt  checkpoints (newest N kept)
    eval.json              final metrics
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import torch
from torch import Tensor


def append_jsonl(path: Path, row: dict[str, Any]) -> None:
    """Append one row and flush it to disk (an interrupted run keeps every row written before)."""
    with path.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(row, allow_nan=True) + "\n")
        fh.flush()


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                continue  # a line cut by a crash: skip it, keep the rest
    return rows


def write_json_atomic(path: Path, obj: Any) -> None:
    tmp = path.with_name(f".tmp-{path.name}")
    tmp.write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def save_scatter(samples: Tensor, path: Path, real: Tensor | None = None, modes: Any = None, title: str = "") -> None:
    """Scatter plot of 2-D samples (generated in blue, real in grey, mode centres as red crosses)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5, 5), dpi=100)
    if real is not None:
        r = real.detach().float().cpu()
        ax.scatter(r[:, 0], r[:, 1], s=2, c="0.75", label="real")
    s = samples.detach().float().cpu()
    ax.scatter(s[:, 0], s[:, 1], s=2, c="tab:blue", label="generated")
    if modes is not None:
        m = torch.tensor(modes)
        ax.scatter(m[:, 0], m[:, 1], s=40, c="tab:red", marker="x", label="modes")
    ax.set_aspect("equal")
    ax.set_title(title)
    ax.legend(loc="upper right", fontsize=7)
    _save_fig(fig, path)
    plt.close(fig)


def save_grid(images: Tensor, path: Path, value_range: tuple[float, float] = (-1.0, 1.0)) -> None:
    """A square-ish grid of images as PNG (3-channel and 1-channel images; other counts show channel 0..2)."""
    from torchvision.utils import save_image

    x = images.detach().float().cpu()
    if x.shape[1] not in (1, 3):
        x = x[:, :3] if x.shape[1] > 3 else x[:, :1]
    lo, hi = value_range
    x = ((x - lo) / (hi - lo)).clamp(0, 1)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".tmp-{path.name}")
    save_image(x, tmp, nrow=max(1, int(math.sqrt(len(x)))), padding=2, format="png")
    os.replace(tmp, path)


def plot_history(rows: list[dict[str, Any]], path: Path) -> None:
    """One panel per logged quantity (losses, extra terms, metrics), against the step."""
    series: dict[str, tuple[list[float], list[float]]] = {}
    for row in rows:
        step = row.get("step")
        for key, value in row.items():
            if key in ("step", "time", "kind", "img_per_s", "lr_g", "lr_d") or not isinstance(value, int | float):
                continue
            xs, ys = series.setdefault(key, ([], []))
            xs.append(step)
            ys.append(value)
    if not series:
        return
    plt = _pyplot()
    n = len(series)
    cols = min(3, n)
    rows_n = math.ceil(n / cols)
    fig, axes = plt.subplots(rows_n, cols, figsize=(4 * cols, 2.6 * rows_n), dpi=90, squeeze=False)
    for ax, (key, (xs, ys)) in zip(axes.flat, sorted(series.items()), strict=False):
        ax.plot(xs, ys, lw=1, marker="." if len(xs) < 30 else None)
        ax.set_title(key, fontsize=9)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    fig.tight_layout()
    _save_fig(fig, path)
    plt.close(fig)


def _save_fig(fig: Any, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".tmp-{path.name}")
    fig.savefig(tmp, format="png")
    os.replace(tmp, path)
