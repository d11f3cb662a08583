"""Framework overhead: gankit's training step against a hand-written PyTorch loop.

Both sides use identical networks (the same modules, copied before the first step), the same losses, the same
optimizers and the same in-memory data; only the loop differs. Rounds alternate (gankit, hand, gankit, ...)
so machine noise hits both alike; the result is the ratio of median step times.

A second table times the whole ``fit`` loop step by step (logging, ``metrics.jsonl`` rows and plot refreshes
every ``--log-every`` steps included) and reports the p99/median step-time ratio: a loop that stalls at log
intervals (e.g. redrawing ``plots/training.png`` inline) shows it there, the medians above do not.

    python benchmarks/bench_overhead.py [--config mnist-dcgan|ring-mlp] [--divergences gan-qp wgan-gp]
        [--steps 20] [--rounds 7] [--batch 64] [--device cpu|cuda] [--precision fp32|bf16]
        [--channels-last] [--compile] [--loop-steps 400] [--log-every 50] [--quick] [--write]
"""

from __future__ import annotations

import argparse
import copy
import itertools
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import synthetic
from common import ROOT, report

MNIST = ROOT.parent / "shared" / "data" / "mnist"

DIVERGENCES: dict[str, tuple[dict[str, Any], int, dict[str, Any]]] = {
    # name -> (divergence table, critic steps, optimizer settings); THEORY.md reference settings
    "gan-qp": ({"name": "gan-qp", "params": {"lam": 10.0, "distance": "l1"}}, 2,
               {"name": "adam", "lr": 2e-4, "betas": [0.5, 0.999]}),
    "wgan-gp": ({"name": "wgan-gp", "params": {"lam": 10.0}}, 5,
                {"name": "adam", "lr": 1e-4, "betas": [0.0, 0.9]}),
}


def norm_for(divergence: str) -> str:
    # a per-sample gradient penalty is wrong with batch norm in the critic
    return "layer" if divergence == "wgan-gp" else "batch"


def spec_dict(config: str, divergence: str, batch: int, device: str, precision: str, channels_last: bool,
              compile_: bool) -> dict[str, Any]:
    table, critic_steps, opt = DIVERGENCES[divergence]
    run = {"steps": 10**6, "batch_size": batch, "critic_steps": critic_steps, "device": device,
           "precision": precision, "channels_last": channels_last, "compile": compile_,
           "optimizer": {"generator": dict(opt), "critic": dict(opt)}}
    if config in ("dcgan64", "resnet32"):
        side, net = (64, "dcgan") if config == "dcgan64" else (32, "resnet")
        critic = {"norm": norm_for(divergence)} if net == "dcgan" else {}
        return {"run": run, "data": {"name": "synthetic-images", "params": {"side": side}},
                "generator": {"name": net, "params": {"latent_dim": 128}},
                "critic": {"name": net, "params": critic}, "divergence": table}
    if config == "ring-mlp":
        return {"run": run, "data": {"name": "ring", "params": {}},
                "generator": {"name": "mlp", "params": {}}, "critic": {"name": "mlp", "params": {}},
                "divergence": table}
    return {"run": run, "data": {"name": "mnist", "params": {"root": str(MNIST)}},
            "generator": {"name": "dcgan", "params": {"latent_dim": 128}},
            "critic": {"name": "dcgan", "params": {"norm": norm_for(divergence)}},
            "divergence": table}


CONFIGS = ["mnist-dcgan", "ring-mlp", "dcgan64", "resnet32"]


class HandLoop:
    """The same step written directly in PyTorch, as a user would without a framework."""

    def __init__(self, trainer: Any, divergence: str) -> None:
        import torch

        self.torch = torch
        self.G = copy.deepcopy(trainer.generator)
        self.D = copy.deepcopy(trainer.critic)
        _, self.critic_steps, opt = DIVERGENCES[divergence]
        self.divergence = divergence
        betas = tuple(opt["betas"])
        self.opt_generator = torch.optim.Adam(self.G.parameters(), lr=opt["lr"], betas=betas)
        self.opt_critic = torch.optim.Adam(self.D.parameters(), lr=opt["lr"], betas=betas)
        self.data = trainer.steps.stream._tensors[0]
        self.batch = trainer.run.batch_size
        self.latent = trainer.latent_dim
        self.device = trainer.device
        self.amp = trainer.ctx.amp_dtype
        self.channels_last = trainer.run.channels_last and self.data.dim() == 4
        self.g_fwd = torch.compile(self.G) if trainer.run.compile else self.G
        # compiled exactly where gankit compiles (it keeps a spectral-norm critic eager: see StepRunner)
        self.d_fwd = torch.compile(self.D) if trainer.steps.c_fwd is not trainer.critic else self.D

    def _real(self) -> Any:
        idx = self.torch.randint(len(self.data), (self.batch,), device=self.device)
        x = self.data.index_select(0, idx)
        return x.contiguous(memory_format=self.torch.channels_last) if self.channels_last else x

    def _autocast(self) -> Any:
        import contextlib

        if self.amp is None:
            return contextlib.nullcontext()
        return self.torch.autocast(self.device.type, dtype=self.amp)

    def _critic_loss(self, x_r: Any, x_f: Any) -> Any:
        torch = self.torch
        with self._autocast():
            t_r, t_f = self.d_fwd(x_r).float(), self.d_fwd(x_f).float()
        if self.divergence == "gan-qp":
            d = (x_r - x_f).abs().flatten(1).mean(1)
            delta = t_r - t_f
            return (-delta + delta.square() / (2 * 10.0 * (d + 1e-8))).mean()
        eps = torch.rand(len(x_r), *[1] * (x_r.dim() - 1), device=x_r.device)
        x_hat = (eps * x_r + (1 - eps) * x_f).requires_grad_(True)
        (grad,) = torch.autograd.grad(self.D(x_hat).sum(), x_hat, create_graph=True)
        gp = (grad.flatten(1).norm(dim=1) - 1).square().mean()
        return t_f.mean() - t_r.mean() + 10.0 * gp

    def step(self) -> None:
        torch = self.torch
        for _ in range(self.critic_steps):
            x_r = self._real()
            z = torch.randn(self.batch, self.latent, device=self.device)
            with torch.no_grad(), self._autocast():
                x_f = self.g_fwd(z).float()
            loss = self._critic_loss(x_r, x_f)
            self.opt_critic.zero_grad(set_to_none=True)
            loss.backward()
            self.opt_critic.step()
        z = torch.randn(self.batch, self.latent, device=self.device)
        x_r = self._real() if self.divergence == "gan-qp" else None
        self.D.requires_grad_(False)
        with self._autocast():
            x_f = self.g_fwd(z)
            t_f = self.d_fwd(x_f).float()
            loss = (self.d_fwd(x_r).float() - t_f).mean() if x_r is not None else -t_f.mean()
        self.opt_generator.zero_grad(set_to_none=True)
        loss.backward()
        self.opt_generator.step()
        self.D.requires_grad_(True)


def time_steps(fn: Any, steps: int, sync: Any) -> float:
    sync()
    start = time.perf_counter()
    for _ in range(steps):
        fn()
    sync()
    return (time.perf_counter() - start) / steps


def bench(config: str, divergence: str, args: argparse.Namespace) -> dict[str, float]:
    """Median seconds per step of gankit, the hand-written loop and its A/A twin, timed in turn."""
    import torch

    if config in ("dcgan64", "resnet32"):
        synthetic.install()

    from gankit.engine.trainer import Trainer, TrainOptions
    from gankit.spec import validate_spec

    spec = validate_spec(spec_dict(config, divergence, args.batch, args.device, args.precision,
                                   args.channels_last, args.compile))
    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer(spec, TrainOptions(out_dir=Path(tmp) / "run", progress=False))
        # a second, identical hand-written loop: hand / hand is the A/A ratio, the noise floor of this run
        loops = {"gankit": trainer.train_step, "hand": HandLoop(trainer, divergence).step,
                 "hand (A/A)": HandLoop(trainer, divergence).step}
        sync = torch.cuda.synchronize if trainer.device.type == "cuda" else (lambda: None)
        for _ in range(args.warmup):
            for step in loops.values():
                step()
        times: dict[str, list[float]] = {name: [] for name in loops}
        for _ in range(args.rounds):
            for name, step in loops.items():
                times[name].append(time_steps(step, args.steps, sync))
    return {name: statistics.median(values) for name, values in times.items()}


def loop_tail(config: str, divergence: str, args: argparse.Namespace) -> dict[str, float]:
    """Median and p99 of the step-to-step time of ``Trainer.fit`` (first ``--warmup`` steps dropped)."""
    if config in ("dcgan64", "resnet32"):
        synthetic.install()

    from gankit.engine.trainer import Trainer, TrainOptions
    from gankit.spec import validate_spec

    data = spec_dict(config, divergence, args.batch, args.device, args.precision, args.channels_last, args.compile)
    data["run"].update(steps=args.loop_steps, log_every=args.log_every, sample_every=10**6,
                       checkpoint_every=10**6)
    stamps: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer(validate_spec(data), TrainOptions(out_dir=Path(tmp) / "run", progress=False))
        stamps.append(time.perf_counter())
        trainer.fit(on_step=lambda t: stamps.append(time.perf_counter()))
    # the last stamp follows the last step's samples and checkpoint: not a loop step
    steps = sorted(b - a for a, b in itertools.pairwise(stamps[args.warmup:-1]))
    median = statistics.median(steps)
    p99 = steps[min(len(steps) - 1, int(0.99 * len(steps)))]
    return {"median": median, "p99": p99, "max": steps[-1]}


def table(columns: list[str]) -> list[str]:
    return ["| " + " | ".join(columns) + " |", "|" + " --- |" * len(columns)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", choices=CONFIGS, default="mnist-dcgan")
    parser.add_argument("--divergences", nargs="+", default=list(DIVERGENCES), choices=list(DIVERGENCES))
    parser.add_argument("--steps", type=int, default=20, help="steps per timed block")
    parser.add_argument("--rounds", type=int, default=7, help="alternating rounds")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precision", default="fp32", choices=["fp32", "bf16", "fp16"])
    parser.add_argument("--channels-last", action="store_true")
    parser.add_argument("--compile", action="store_true")
    parser.add_argument("--loop-steps", type=int, default=400, help="steps of the fit loop timed step by step")
    parser.add_argument("--log-every", type=int, default=50, help="run.log_every of the timed fit loop")
    parser.add_argument("--quick", action="store_true", help="3 rounds of 5 steps; a 120-step loop")
    parser.add_argument("--write", action="store_true", help="append the result to benchmarks/results/HISTORY.md")
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.steps, args.warmup, args.loop_steps, args.log_every = 3, 5, 2, 120, 10
    if args.config == "mnist-dcgan" and not (MNIST / "train-images-idx3-ubyte.gz").exists():
        raise SystemExit(f"MNIST not found at {MNIST}")
    lines = table(["config", "divergence", "gankit ms/step", "hand-written ms/step", "gankit / hand",
                   "hand / hand (A/A)"])
    tails = table(["config", "divergence", "median ms/step", "p99 ms/step", "p99 / median", "max ms"])
    where = f"{args.config} b{args.batch} {args.device} {args.precision}"
    for divergence in args.divergences:
        t = bench(args.config, divergence, args)
        lines.append(f"| {where} | {divergence} | {t['gankit'] * 1e3:.2f} | {t['hand'] * 1e3:.2f} | "
                     f"{t['gankit'] / t['hand']:.3f} | {t['hand (A/A)'] / t['hand']:.3f} |")
        t = loop_tail(args.config, divergence, args)
        tails.append(f"| {where} | {divergence} | {t['median'] * 1e3:.2f} | {t['p99'] * 1e3:.2f} | "
                     f"{t['p99'] / t['median']:.2f} | {t['max'] * 1e3:.1f} |")
    body = (f"{args.rounds} alternating rounds of {args.steps} steps (medians); one step = the divergence's critic "
            "steps + one generator step. Target: gankit / hand ≤ 1.02. The A/A column times a second, identical "
            "hand-written loop against the first: its distance from 1 is this run's noise.\n\n" + "\n".join(lines)
            + f"\n\nThe fit loop step by step ({args.loop_steps} steps, a metrics row and plot refresh every "
            f"{args.log_every}): a stall at log intervals shows as p99 / median well above 1.\n\n" + "\n".join(tails))
    print(report("Framework overhead", body, args.write))


if __name__ == "__main__":
    main()
