"""GPU throughput: img/s of DCGAN 64×64 and ResNet 32×32 at batch 64 and 256, in fp32, bf16, and
bf16 + channels_last + torch.compile — each next to the hand-written loop's ceiling in the same run.

    python benchmarks/bench_gpu.py [--divergence gan-qp] [--rounds 5] [--steps 20] [--quick] [--write]

Needs a CUDA device (it says so and exits otherwise). Images per second count every sample a step touches:
batch × (critic steps + 1).
"""

from __future__ import annotations

import argparse

from bench_overhead import DIVERGENCES, bench
from common import report

MODES = {"fp32": ("fp32", False, False), "bf16": ("bf16", False, False), "bf16+cl+compile": ("bf16", True, True)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--divergence", default="gan-qp", choices=list(DIVERGENCES))
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--quick", action="store_true", help="2 rounds of 5 steps, batch 64 only")
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    import torch

    if not torch.cuda.is_available():
        raise SystemExit("bench_gpu.py needs a CUDA device; none is visible")
    batches = [64] if args.quick else [64, 256]
    rounds, steps = (2, 5) if args.quick else (args.rounds, args.steps)
    critic_steps = DIVERGENCES[args.divergence][1]
    lines = ["| network | batch | mode | gankit img/s | hand-written img/s | gankit / hand |",
             "| --- | --- | --- | --- | --- | --- |"]
    for config in ("dcgan64", "resnet32"):
        for batch in batches:
            for mode, (precision, channels_last, compile_) in MODES.items():
                ns = argparse.Namespace(batch=batch, device="cuda", precision=precision, channels_last=channels_last,
                                        compile=compile_, rounds=rounds, steps=steps, warmup=3 if compile_ else 2)
                ours, theirs = bench(config, args.divergence, ns)
                imgs = batch * (critic_steps + 1)
                lines.append(f"| {config} | {batch} | {mode} | {imgs / ours:,.0f} | {imgs / theirs:,.0f} | "
                             f"{theirs / ours:.3f} |")
    body = (f"{args.divergence}, {rounds} alternating rounds of {steps} steps, medians; device "
            f"{torch.cuda.get_device_name(0)}.\n\n" + "\n".join(lines))
    print(report("GPU throughput", body, args.write))


if __name__ == "__main__":
    main()
