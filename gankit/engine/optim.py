"""Optimizers and learning-rate schedules from a spec's ``[run.optimizer.*]`` tables."""

from __future__ import annotations

import torch
from torch import nn
from torch.optim.lr_scheduler import LambdaLR

from gankit.spec import OptimizerConfig


def make_optimizer(cfg: OptimizerConfig, module: nn.Module) -> torch.optim.Optimizer:
    params = [p for p in module.parameters() if p.requires_grad]
    if cfg.name == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, betas=cfg.betas, eps=cfg.eps, weight_decay=cfg.weight_decay)
    if cfg.name == "adamw":
        return torch.optim.AdamW(params, lr=cfg.lr, betas=cfg.betas, eps=cfg.eps, weight_decay=cfg.weight_decay)
    if cfg.name == "rmsprop":
        return torch.optim.RMSprop(
            params, lr=cfg.lr, eps=cfg.eps, momentum=cfg.momentum, weight_decay=cfg.weight_decay
        )
    return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)


class _LinearDecay:
    """Picklable-free schedule factor: 1 at step 0, 0 at ``total`` (stepped once per generator step)."""

    def __init__(self, total: int) -> None:
        self.total = total

    def __call__(self, step: int) -> float:
        return max(0.0, 1.0 - step / self.total)


def _constant(step: int) -> float:
    return 1.0


def make_scheduler(cfg: OptimizerConfig, optimizer: torch.optim.Optimizer, total_steps: int) -> LambdaLR:
    factor = _LinearDecay(total_steps) if cfg.schedule == "linear" else _constant
    return LambdaLR(optimizer, factor)


def clip_gradients(module: nn.Module, cfg: OptimizerConfig) -> None:
    if cfg.grad_clip is not None:
        torch.nn.utils.clip_grad_norm_(module.parameters(), cfg.grad_clip, foreach=True)
