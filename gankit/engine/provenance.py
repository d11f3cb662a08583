"""What produced a run (the manifest) and what a resume changed (for ``history.jsonl``).

A resumed run may carry a changed spec. Each change either takes effect — most settings are read from the
spec at every step — or cannot, and is then said so: an optimizer's hyperparameters come back from the
checkpoint's optimizer state, so the engine writes the new values into the loaded state (``applied``);
the seed cannot change random streams that continue from the checkpoint (``ignored``). Nothing is recorded as
if it were in effect when it is not.
"""

from __future__ import annotations

import json
import platform
import subprocess
from pathlib import Path
from typing import Any

import torch

import gankit
from gankit.errors import GankitError

#: optimizer settings that live in the optimizer state and are written into it on resume
OPTIMIZER_SETTINGS = ("lr", "betas", "momentum", "weight_decay", "eps")
#: changes that cannot take effect on resume, with the reason
IGNORED = {"run.seed": "the random streams continue from the checkpoint"}


def _git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
                             cwd=Path(gankit.__file__).parent)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def run_manifest(spec: Any, world_size: int = 1) -> dict[str, Any]:
    """What produced a run: spec as resolved, its hash, versions of gankit, plugins and torch, git commit."""
    from gankit.plugins import get_registry

    plugins = {f"{p.dist}:{p.entry_point}": p.version for p in get_registry().plugins if p.status == "ok"}
    return {
        "spec": spec.to_dict(),
        "spec_hash": spec.digest(),
        "gankit": gankit.__version__,
        "plugins": plugins,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "git_commit": _git_commit(),
        "world_size": world_size,
    }


def _flatten(node: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(node, dict) and node:
        out: dict[str, Any] = {}
        for key, value in node.items():
            out.update(_flatten(value, f"{prefix}.{key}" if prefix else str(key)))
        return out
    return {prefix: node}


def spec_changes(saved_manifest: str | None, spec: Any) -> tuple[list[str], dict[str, dict[str, Any]]]:
    """``(lines, optimizer_updates)``: one ``key: old -> new (how)`` line per changed setting, and the
    optimizer hyperparameters to write into the loaded optimizer state (``{"generator": {"lr": ...}}``)."""
    try:
        old = json.loads(saved_manifest or "{}").get("spec") or {}
    except (json.JSONDecodeError, AttributeError):
        old = {}
    if not old:
        return [], {}
    before, after = _flatten(old), _flatten(spec.to_dict())
    lines: list[str] = []
    updates: dict[str, dict[str, Any]] = {}
    for key in sorted(set(before) | set(after)):
        if key == "run.out_dir" or before.get(key) == after.get(key):
            continue
        line = f"{key}: {json.dumps(before.get(key))} -> {json.dumps(after.get(key))}"
        parts = key.split(".")
        if parts[:2] == ["run", "optimizer"] and len(parts) == 4:
            net, setting = parts[2], parts[3]
            if setting == "name":
                raise GankitError(f"{key}: the checkpoint's optimizer is {before.get(key)}, the spec says "
                                  f"{after.get(key)}; its state cannot carry over: resume with the same optimizer "
                                  "or start a new run (--out)")
            if setting in OPTIMIZER_SETTINGS:
                updates.setdefault(net, {})[setting] = after.get(key)
                line += " (applied to the loaded optimizer state)"
        elif key in IGNORED:
            line += f" (ignored: {IGNORED[key]})"
        lines.append(line)
    return lines, updates


def apply_optimizer_settings(optimizer: torch.optim.Optimizer, scheduler: Any, settings: dict[str, Any]) -> None:
    """Write changed hyperparameters into a loaded optimizer; a new ``lr`` becomes the schedule's base rate
    (the current rate is the new base times the schedule's factor at this step)."""
    for group in optimizer.param_groups:
        for name, value in settings.items():
            if name == "lr" or name not in group:
                continue
            group[name] = tuple(value) if name == "betas" else value
    if "lr" in settings:
        scheduler.base_lrs = [float(settings["lr"])] * len(optimizer.param_groups)
        for group, factor in zip(optimizer.param_groups, scheduler.lr_lambdas, strict=True):
            group["initial_lr"] = float(settings["lr"])
            group["lr"] = float(settings["lr"]) * factor(scheduler.last_epoch)
        scheduler._last_lr = [g["lr"] for g in optimizer.param_groups]
