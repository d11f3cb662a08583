"""Optimizers and learning-rate schedules from a spec's ``[run.optimizer.*]`` tables.

On CUDA, Adam, AdamW and SGD use their fused kernels: besides being faster, a fused optimizer takes the
gradient scaler's inf check as a device tensor, so fp16 training does not synchronise with the host on every
step (``GradScaler.step`` otherwise reads ``found_inf`` back). RMSProp has no fused kernel.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.optim.lr_scheduler import LambdaLR

from gankit.spec import OptimizerConfig


def make_optimizer(cfg: OptimizerConfig, module: nn.Module) -> torch.optim.Optimizer:
    params = [p for p in module.parameters() if p.requires_grad]
    on_cuda = bool(params) and all(p.device.type == "cuda" for p in params)
    fused: dict[str, Any] = {"fused": True} if on_cuda else {}
    if cfg.name == "adam":
        return torch.optim.Adam(
            params, lr=cfg.lr, betas=cfg.betas, eps=cfg.eps, weight_decay=cfg.weight_decay, **fused
        )
    if cfg.name == "adamw":
        return torch.optim.AdamW(
            params, lr=cfg.lr, betas=cfg.betas, eps=cfg.eps, weight_decay=cfg.weight_decay, **fused
        )
    if cfg.name == "rmsprop":
        return torch.optim.RMSprop(
            params, lr=cfg.lr, eps=cfg.eps, momentum=cfg.momentum, weight_decay=cfg.weight_decay
        )
    return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay, **fused)


class LinearDecay:
    """LR factor 1 at step 0 falling linearly to 0 at ``total`` (stepped once per generator step).

    A class rather than a closure: ``LambdaLR.state_dict`` saves a callable object's attributes (``total``)
    as plain numbers, which ``torch.load(weights_only=True)`` reads back.
    """

    def __init__(self, total: int) -> None:
        self.total = total

    def __call__(self, step: int) -> float:
        return max(0.0, 1.0 - step / self.total)


def _constant(step: int) -> float:
    return 1.0


def make_scheduler(cfg: OptimizerConfig, optimizer: torch.optim.Optimizer, total_steps: int) -> LambdaLR:
    factor = LinearDecay(total_steps) if cfg.schedule == "linear" else _constant
    return LambdaLR(optimizer, factor)


def clip_gradients(module: nn.Module, cfg: OptimizerConfig) -> None:
    """Clip the global L2 norm of ``module``'s gradients (no host sync: the norm stays on the device)."""
    if cfg.grad_clip is not None:
        torch.nn.utils.clip_grad_norm_(module.parameters(), cfg.grad_clip, foreach=True)
