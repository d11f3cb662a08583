"""Features shared by the metrics of one evaluation, and reference statistics cached on disk.

* Extractors are built once per process and configuration (:func:`get_extractor`): FID, KID and
  precision/recall naming the same extractor share its weights.
* Within one evaluation (one :class:`EvalContext`), generated samples and their features are computed once
  per sample count and extractor, and kept in ``ctx.memo``.
* Features of the real data are cached under ``ctx.cache_dir/reference-stats``, keyed by the data set
  (``DataInfo.key``), split, sample count, the extractor's digest (weights and preprocessing) and a
  fingerprint of the real samples drawn (so a different subset never reuses stale statistics). Files are
  ``torch.save``\\d dicts of plain tensors, written atomically, loaded with ``weights_only=True``. Data sets
  with an empty key, and extractors without a digest, are not cached.
* Under DDP (``ctx.world_size > 1`` with ``torch.distributed`` initialised) every rank extracts its share —
  its own generated samples, a slice of the real ones — and the features are all-gathered, so every rank
  computes the same value over all of them. Ranks agree before skipping work for a cached file, so a cache
  that only some ranks can see (node-local disks) costs an extraction, never a hang.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from gankit.errors import GankitError
from gankit.features import auto_extractor
from gankit.features.base import Extractor, Features
from gankit.protocols import BuildEnv, DataInfo, EvalContext

CACHE_FOLDER = "reference-stats"
CACHE_FORMAT = "gankit-reference-features-v1"

_EXTRACTORS: dict[tuple[str, str, bool], Extractor] = {}


# ----------------------------------------------------------------------------------- extractors
def resolve_extractor_name(name: str, info: DataInfo | None) -> str:
    if name != "auto":
        return name
    if info is None:
        raise GankitError("extractor 'auto' needs the data set's description; name an extractor instead")
    return auto_extractor(info)


def get_extractor(name: str, params: dict[str, Any], env: BuildEnv, where: str = "extractor") -> Extractor:
    """Build (or reuse) the registered feature extractor ``name`` with ``params``.

    ``where`` names the field in errors (e.g. ``metrics.0.params.extractor``)."""
    from pydantic import ValidationError

    from gankit.plugins import get_registry

    try:
        component = get_registry().lookup("feature-extractor", name)
    except LookupError as exc:
        raise GankitError(f"{where}: {exc}") from None
    try:
        validated = component.params_model.model_validate(params)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        loc = ".".join(str(p) for p in first["loc"])
        raise GankitError(f"{where}_params.{loc}: {first['msg']}") from None
    key = (component.qualified_name, json.dumps(validated.model_dump(mode="json"), sort_keys=True), env.allow_imports)
    if key not in _EXTRACTORS:
        extractor = component.build(validated, env)
        if not isinstance(extractor, Extractor):
            raise GankitError(f"{where}: feature extractor '{name}' from {component.dist} did not return a "
                              "gankit.features.base.Extractor")
        _EXTRACTORS[key] = extractor
    return _EXTRACTORS[key]


def to_model_range(x: Tensor, info: DataInfo) -> Tensor:
    """Map samples from the data's ``value_range`` to ``[-1, 1]``, the range every image extractor expects."""
    lo, hi = info.value_range
    if not info.is_image or (lo, hi) == (-1.0, 1.0) or not (abs(lo) < float("inf") and abs(hi) < float("inf")):
        return x
    return (x - lo) * (2.0 / (hi - lo)) - 1.0


# ------------------------------------------------------------------------------------ ranks
def distributed(ctx: EvalContext) -> bool:
    return ctx.world_size > 1 and torch.distributed.is_available() and torch.distributed.is_initialized()


def gather_rows(t: Tensor, ctx: EvalContext) -> Tensor:
    """Concatenate every rank's ``t`` (rows may differ in number), in rank order, on every rank."""
    if not distributed(ctx):
        return t
    n = torch.tensor([len(t)], device=t.device)
    sizes = [torch.zeros_like(n) for _ in range(ctx.world_size)]
    torch.distributed.all_gather(sizes, n)
    counts = [int(s) for s in sizes]
    padded = torch.zeros((max(counts), *t.shape[1:]), dtype=t.dtype, device=t.device)
    padded[: len(t)] = t
    parts = [torch.empty_like(padded) for _ in range(ctx.world_size)]
    torch.distributed.all_gather(parts, padded)
    return torch.cat([p[:c] for p, c in zip(parts, counts, strict=True)])


def all_ranks(flag: bool, ctx: EvalContext) -> bool:
    """Whether ``flag`` holds on every rank. Ranks must take the same path into collectives: a rank that found
    a cache file (rank 0's node-local disk, say) must not skip an extraction the others gather."""
    if not distributed(ctx):
        return flag
    t = torch.tensor([int(flag)], device=ctx.device)
    torch.distributed.all_reduce(t, op=torch.distributed.ReduceOp.MIN)
    return bool(t.item())


def _gather(f: Features, ctx: EvalContext) -> Features:
    logits = gather_rows(f.logits, ctx) if f.logits is not None else None
    return Features(gather_rows(f.features, ctx), logits)


# --------------------------------------------------------------------------------- generated
def fake_samples(ctx: EvalContext, n: int) -> Tensor:
    """This rank's share of ``n`` generated samples (drawn once per evaluation and count). Every rank draws at
    least one, so with fewer samples than ranks slightly more than ``n`` are evaluated."""
    key = ("fake-samples", n)
    if key not in ctx.memo:
        world, rank = (ctx.world_size, ctx.rank) if distributed(ctx) else (1, 0)
        share = max(1, n // world + (1 if rank < n % world else 0))
        x, _ = ctx.sample_fake(share)
        ctx.memo[key] = to_model_range(x, ctx.info)
    return ctx.memo[key]


def _memo_name(extractor: Extractor) -> str:
    return extractor.digest or f"{extractor.name}@{id(extractor)}"


def fake_features(ctx: EvalContext, extractor: Extractor, n: int) -> Features:
    """Features (and logits) of ``n`` generated samples, gathered over ranks; once per evaluation."""
    key = ("fake-features", _memo_name(extractor), n)
    if key not in ctx.memo:
        local = extractor.extract(fake_samples(ctx, n), ctx.device)
        ctx.memo[key] = _gather(local, ctx)
    return ctx.memo[key]


# -------------------------------------------------------------------------------------- real
def _slug(text: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "data"
    if len(slug) > 80:
        slug = slug[:60] + "-" + hashlib.sha256(text.encode()).hexdigest()[:12]
    return slug


def fingerprint(x: Tensor) -> str:
    """A cheap identity of a set of samples: its shape, its sum, and up to 256 evenly spaced samples."""
    step = max(1, len(x) // 256)
    h = hashlib.sha256(repr((tuple(x.shape), str(x.dtype))).encode())
    h.update(repr(float(x.double().sum())).encode())
    h.update(x[::step].detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def cache_path(ctx: EvalContext, extractor: Extractor, kind: str, split: str, n: int, x: Tensor) -> Path | None:
    """Where ``kind`` ("features" or "stats") of these real samples live on disk; ``None``: not cached."""
    if not ctx.info.key or not extractor.digest:
        return None
    name = f"{_slug(ctx.info.key)}--{split}--n{n}--{_slug(extractor.digest)}--{fingerprint(x)}--{kind}.pt"
    return Path(ctx.cache_dir) / CACHE_FOLDER / name


def _load_cached(path: Path | None, fields: tuple[str, ...]) -> dict[str, Tensor] | None:
    if path is None:
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # missing, damaged or foreign: recomputed, never trusted
        return None
    if not isinstance(state, dict) or state.get("format") != CACHE_FORMAT:
        return None
    if not all(isinstance(state.get(f), Tensor) for f in fields):
        return None
    return {f: state[f] for f in fields}


def _save_cached(path: Path | None, ctx: EvalContext, tensors: dict[str, Tensor], meta: dict[str, Any]) -> None:
    """Rank 0 writes atomically (temporary file + rename); a cache that cannot be written is only a lost
    speed-up, never an error."""
    if path is None or ctx.rank != 0:
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".partial-", suffix=".pt", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                torch.save({"format": CACHE_FORMAT, **{k: v.detach().cpu() for k, v in tensors.items()}, **meta}, fh)
            os.chmod(tmp, 0o644)  # mkstemp makes files private; a cache may be shared
            os.replace(tmp, path)
        finally:
            Path(tmp).unlink(missing_ok=True)
    except OSError:
        return


def real_samples(ctx: EvalContext, n: int, split: str) -> Tensor:
    """``n`` real samples of ``split`` (fewer if the split is smaller), the same on every rank; once per
    evaluation."""
    key = ("real-samples", split, n)
    if key not in ctx.memo:
        ctx.memo[key] = ctx.sample_real(n, split)[0]
    return ctx.memo[key]


def _extract_real(ctx: EvalContext, extractor: Extractor, n: int, split: str) -> Tensor:
    """Features of the real samples, the ranks sharing the work; once per evaluation (no disk cache)."""
    key = ("real-features", _memo_name(extractor), split, n)
    if key not in ctx.memo:
        x = to_model_range(real_samples(ctx, n, split), ctx.info)
        mine = x.tensor_split(ctx.world_size)[ctx.rank] if distributed(ctx) else x
        ctx.memo[key] = gather_rows(extractor.extract(mine, ctx.device).features, ctx)
    return ctx.memo[key]


def _meta(ctx: EvalContext, extractor: Extractor, split: str, n: int) -> dict[str, Any]:
    return {"data": ctx.info.key, "split": split, "n": n, "extractor": extractor.digest}


def real_features(ctx: EvalContext, extractor: Extractor, n: int, split: str = "train") -> Tensor:
    """Features ``(≤n, D)`` of the real samples, from the memo, the disk cache, or extracted (and cached)."""
    key = ("real-features", _memo_name(extractor), split, n)
    if key in ctx.memo:
        return ctx.memo[key]
    path = cache_path(ctx, extractor, "features", split, n, real_samples(ctx, n, split))
    cached = _load_cached(path, ("features",))
    if all_ranks(cached is not None, ctx):
        assert cached is not None
        ctx.memo[key] = cached["features"].to(ctx.device)
        return ctx.memo[key]
    feats = _extract_real(ctx, extractor, n, split)
    _save_cached(path, ctx, {"features": feats}, _meta(ctx, extractor, split, n))
    return feats


def real_stats(ctx: EvalContext, extractor: Extractor, n: int, split: str = "train") -> tuple[Tensor, Tensor]:
    """Mean and covariance (float64, CPU) of the real features: from the memo, the disk cache (which then holds
    only these D + D² numbers, not the features), or computed from the features and cached."""
    from gankit.metrics.stats import gaussian_stats

    key = ("real-stats", _memo_name(extractor), split, n)
    if key in ctx.memo:
        return ctx.memo[key]
    path = cache_path(ctx, extractor, "stats", split, n, real_samples(ctx, n, split))
    cached = _load_cached(path, ("mu", "sigma"))
    if all_ranks(cached is not None, ctx):
        assert cached is not None
        stats = (cached["mu"].double(), cached["sigma"].double())
    else:
        stats = gaussian_stats(_extract_real(ctx, extractor, n, split))
        _save_cached(path, ctx, {"mu": stats[0], "sigma": stats[1]}, _meta(ctx, extractor, split, n))
    ctx.memo[key] = stats
    return stats
