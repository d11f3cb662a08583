"""GPU throughput: img/s of DCGAN 64×64 and ResNet 32×32 at batch 64 and 256, in fp32, bf16, and
bf16 + channels_last + torch.compile — each next to the hand-written loop's ceiling (and its A/A twin, the
run's noise floor) in the same run.

    python benchmarks/bench_gpu.py [--divergence gan-qp] [--rounds 5] [--steps 20] [--modes fp32 bf16 ...]
        [--configs dcgan64 resnet32] [--batches 64 256] [--device cuda] [--quick] [--write]

Needs a CUDA device by default (it says so and exits otherwise). ``--device cpu`` runs the same matrix on the
CPU: not a GPU figure, but it exercises every path (autocast, channels_last, compile) where no GPU is lent.
Images per second count every sample a step touches: batch × (critic steps + 1).
"""

from __future__ import annotations

import argparse

from bench_overhead import DIVERGENCES, bench
from common import report

MODES = {"fp32": ("fp32", False, False), "bf16": ("bf16", False, False), "bf16+cl+compile": ("bf16", True, True)}
CONFIGS = ("dcgan64", "resnet32")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--divergence", default="gan-qp", choices=list(DIVERGENCES))
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--modes", nargs="+", default=list(MODES), choices=list(MODES))
    parser.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    parser.add_argument("--batches", nargs="+", type=int, default=[64, 256])
    parser.add_argument("--device", default="cuda", choices=["cuda", "cpu"],
                        help="cpu: a smoke run of the same code paths, not a GPU figure")
    parser.add_argument("--quick", action="store_true", help="2 rounds of 2 steps, the first batch size only")
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    if args.rounds < 1 or args.steps < 1 or min(args.batches) < 1:
        parser.error("--rounds, --steps and --batches must be >= 1")
    import torch

    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("bench_gpu.py needs a CUDA device; none is visible (--device cpu runs a smoke run)")
    batches = [args.batches[0]] if args.quick else args.batches
    rounds, steps = (2, 2) if args.quick else (args.rounds, args.steps)
    critic_steps = DIVERGENCES[args.divergence][1]
    lines = ["| network | batch | mode | gankit img/s | hand-written img/s | gankit / hand | hand / hand (A/A) |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for config in args.configs:
        for batch in batches:
            for mode in args.modes:
                precision, channels_last, compile_ = MODES[mode]
                ns = argparse.Namespace(batch=batch, device=args.device, precision=precision,
                                        channels_last=channels_last, compile=compile_, rounds=rounds, steps=steps,
                                        warmup=3 if compile_ else 2)
                sec = bench(config, args.divergence, ns)  # median seconds per step of each loop
                imgs = batch * (critic_steps + 1)
                lines.append(f"| {config} | {batch} | {mode} | {imgs / sec['gankit']:,.0f} | "
                             f"{imgs / sec['hand']:,.0f} | {sec['gankit'] / sec['hand']:.3f} | "
                             f"{sec['hand (A/A)'] / sec['hand']:.3f} |")
    device = torch.cuda.get_device_name(0) if args.device == "cuda" else "CPU (smoke run, not a GPU figure)"
    body = f"{args.divergence}, {rounds} alternating rounds of {steps} steps, medians; device {device}.\n\n" \
        + "\n".join(lines)
    print(report("GPU throughput", body, args.write))


if __name__ == "__main__":
    main()
