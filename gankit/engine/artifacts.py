"""What a person looks at: ``metrics.jsonl``, sample grids / scatter plots, and a plot of losses and metrics.

Layout of a run folder::

    manifest.json          resolved spec, spec hash, versions of gankit/plugins/torch, git commit
    metrics.jsonl          one JSON object per log interval (losses, lr, img/s) and per evaluation
    plots/training.png     losses and metrics over steps (refreshed at each log interval)
    samples/step-N.png     sample grid (images) or scatter plot (2-D data), fixed latents
    checkpoints/step-N.pt  checkpoints (newest ``run.keep_checkpoints`` kept)
    eval.json              final metrics
    tensorboard/           TensorBoard event files (``run.tensorboard = true``)

Every file is written to a temporary name and renamed over the old one, and ``metrics.jsonl`` rows are
appended with ``os.write`` and cut back on failure, so a write that fails (a full disk, a file-size limit)
leaves the earlier file exactly as it was and no partial file behind; the failure is one line naming the
path and the system's reason (:class:`ArtifactWriteError`).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from gankit.errors import TrainingError
from gankit.userfiles import os_error_behind


class ArtifactWriteError(TrainingError):
    """A run file could not be written (full disk, file-size limit, permissions); earlier files are intact."""


def _write_error(path: Path, exc: BaseException) -> ArtifactWriteError | None:
    cause = os_error_behind(exc)
    if cause is None or isinstance(exc, KeyboardInterrupt):
        return None
    return ArtifactWriteError(f"cannot write {path}: {cause.strerror or cause}; earlier files are untouched")


def write_atomic(path: Path, write: Callable[[Path], Any]) -> None:
    """``write(tmp)`` to a temporary file next to ``path``, then rename it over ``path``. On failure the
    temporary file is removed, ``path`` is as it was, and an ``OSError`` becomes an :class:`ArtifactWriteError`."""
    tmp = path.with_name(f".tmp-{path.name}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write(tmp)
        os.replace(tmp, path)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        error = _write_error(path, exc)
        if error is not None:
            raise error from exc
        raise


def append_jsonl(path: Path, row: dict[str, Any]) -> None:
    """Append one row, unbuffered (an interrupted run keeps every row written before). A failed write is cut
    back off, so the file never ends in half a row."""
    data = (json.dumps(row, allow_nan=True) + "\n").encode("utf-8")
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
    except OSError as exc:
        raise ArtifactWriteError(f"cannot write {path}: {exc.strerror or exc}") from exc
    try:
        size = os.fstat(fd).st_size
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
        except BaseException as exc:
            os.ftruncate(fd, size)
            error = _write_error(path, exc)
            if error is not None:
                raise error from exc
            raise
    finally:
        os.close(fd)


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


def truncate_jsonl(path: Path, last_step: int) -> None:
    """Drop rows after ``last_step`` (written by a run that then crashed, before a resume redoes them)."""
    if not path.exists():
        return
    rows = [r for r in read_jsonl(path) if int(r.get("step", 0)) <= last_step]
    text = "".join(json.dumps(r, allow_nan=True) + "\n" for r in rows)
    write_atomic(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_json_atomic(path: Path, obj: Any) -> None:
    text = json.dumps(obj, indent=2, sort_keys=True) + "\n"
    write_atomic(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def _figure(**kwargs: Any) -> Any:
    """A matplotlib ``Figure`` drawn with Agg, without pyplot: no global state, no GUI backend, and a much
    cheaper import (plots are refreshed at every log interval)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(**kwargs)
    FigureCanvasAgg(fig)
    return fig


def save_scatter(samples: Tensor, path: Path, real: Tensor | None = None, modes: Any = None, title: str = "") -> None:
    """Scatter plot of 2-D samples (generated in blue, real in grey, mode centres as red crosses); a histogram
    for 1-D samples. Only the first two coordinates of higher-dimensional points are shown."""
    fig = _figure(figsize=(5, 5), dpi=100)
    ax = fig.subplots()
    if samples.flatten(1).shape[1] == 1:
        if real is not None:
            ax.hist(real.detach().float().cpu().flatten().numpy(), bins=100, color="0.75", label="real")
        ax.hist(samples.detach().float().cpu().flatten().numpy(), bins=100, color="tab:blue", alpha=0.7,
                label="generated")
        ax.set_title(title)
        ax.legend(loc="upper right", fontsize=7)
        _save_fig(fig, path)
        return
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


def _unit(images: Tensor, value_range: tuple[float, float]) -> Tensor:
    """Images scaled to ``[0, 1]``, as 1 or 3 channels (other counts show channels 0..2 or 0)."""
    x = images.detach().float().cpu()
    if x.shape[1] not in (1, 3):
        x = x[:, :3] if x.shape[1] > 3 else x[:, :1]
    lo, hi = value_range
    return ((x - lo) / (hi - lo)).clamp(0, 1)


def image_grid(images: Tensor, value_range: tuple[float, float] = (-1.0, 1.0)) -> Tensor:
    """A square-ish grid ``(C, H, W)`` in ``[0, 1]`` of a batch of images."""
    from torchvision.utils import make_grid

    x = _unit(images, value_range)
    return make_grid(x, nrow=max(1, int(math.sqrt(len(x)))), padding=2)


def save_png(image: Tensor, path: Path) -> None:
    """Write one ``(C, H, W)`` image in ``[0, 1]`` as PNG, atomically."""
    from torchvision.utils import save_image

    write_atomic(path, lambda tmp: save_image(image, tmp, format="png"))


def save_grid(images: Tensor, path: Path, value_range: tuple[float, float] = (-1.0, 1.0)) -> Tensor:
    """Write a grid of images as PNG; returns the grid (for TensorBoard)."""
    grid = image_grid(images, value_range)
    save_png(grid, path)
    return grid


def save_images(images: Tensor, folder: Path, value_range: tuple[float, float] = (-1.0, 1.0)) -> list[Path]:
    """One PNG per image: ``folder/000000.png``, ``000001.png``, ..."""
    x = _unit(images, value_range)
    paths = []
    for i, image in enumerate(x):
        path = folder / f"{i:06d}.png"
        save_png(image, path)
        paths.append(path)
    return paths


def save_points_csv(points: Tensor, path: Path, labels: Tensor | None = None) -> None:
    """Points ``(N, D)`` as CSV with a header ``x0,x1,...`` (and ``label`` for conditional samples)."""
    p = points.detach().double().cpu().flatten(1)
    header = [f"x{i}" for i in range(p.shape[1])] + (["label"] if labels is not None else [])
    lines = [",".join(header)]
    for i, row in enumerate(p.tolist()):
        cells = [repr(v) for v in row] + ([str(int(labels[i]))] if labels is not None else [])
        lines.append(",".join(cells))
    text = "\n".join(lines) + "\n"
    write_atomic(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def plot_history(rows: list[dict[str, Any]], path: Path) -> None:
    """One panel per logged quantity (losses, extra terms, metrics), against the step."""
    series: dict[str, tuple[list[float], list[float]]] = {}
    for row in rows:
        step = row.get("step")
        for key, value in row.items():
            if key in ("step", "time", "kind", "img_per_s", "lr_generator", "lr_critic") or \
                    not isinstance(value, int | float):
                continue
            xs, ys = series.setdefault(key, ([], []))
            xs.append(step)
            ys.append(value)
    if not series:
        return
    n = len(series)
    cols = min(3, n)
    rows_n = math.ceil(n / cols)
    fig = _figure(figsize=(4 * cols, 2.6 * rows_n), dpi=90)
    axes = fig.subplots(rows_n, cols, squeeze=False)
    fig.subplots_adjust(left=0.08, right=0.98, bottom=0.08, top=0.92, wspace=0.3, hspace=0.55)
    for ax, (key, (xs, ys)) in zip(axes.flat, sorted(series.items()), strict=False):
        ax.plot(xs, ys, lw=1, marker="." if len(xs) < 30 else None)
        ax.set_title(key, fontsize=9)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    _save_fig(fig, path)


def _save_fig(fig: Any, path: Path) -> None:
    write_atomic(path, lambda tmp: fig.savefig(tmp, format="png"))
