"""Stacked MNIST (VEEGAN/PacGAN): modes captured of 1,000 and reverse KL, next to the published rows.

The runs are the sweep ``benchmarks/stacked.toml`` (base spec ``benchmarks/specs/stacked.toml``), trained
through ``gankit sweep``; this script adds the reference row on real stacks and the published rows.

Protocol (THEORY.md §5): three random MNIST digits as the three channels of one 28×28 image (1,000 modes,
60,000 stacks drawn from the run's seed); the packaged MNIST classifier labels each channel of 26,000
generated samples (metric ``stacked-mnist-modes``); a mode is captured when at least one sample lands in it;
reverse KL of the mode histogram to uniform. Network: the DCGAN of specs/stacked-mnist.toml (latent 128,
width 32, 5×5 kernels, batch 64) for every divergence, each with its usual settings (the sweep's variants, as
bench_quality.py's: WGAN-GP 5 critic steps, Adam(1e-4, (0, 0.9)), layer-norm critic; GAN-QP λ = 10, 2 critic steps;
SGAN 1 critic step, Adam(2e-4, β1 = 0.5)). The published rows used other DCGANs and budgets (VEEGAN, PacGAN).
A reference row runs the metric on 26,000 real stacks.

    python benchmarks/bench_stacked.py [--quick] [--seeds 3] [--steps 3000] [--jobs 2]
        [--divergences sgan-ns wgan-gp gan-qp-l1] [--data-root ../shared/data] [--set run.ema=0.999 ...]
        [--write]

Runs live in runs/benchmarks/stacked/steps-<N>[-<hash of --set>]/ (a rerun reuses finished runs and resumes
interrupted ones; --quick trains in a temporary folder). Mean ± standard error over seeds. Sample grids of seed
0 go to benchmarks/results/ (not in --quick).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from bench_quality import CACHE_DIR, DATA_ROOT, DCGAN_ADAM, LABELS, RESULTS_DIR
from bench_quality import DIVERGENCES as QUALITY_DIVERGENCES
from common import (
    ROOT,
    closing_lines,
    final_sample,
    mean_se,
    report,
    run_minutes,
    run_sweep_file,
    steps_overrides,
    sweep_out_dir,
)

from gankit.sweep.plan import toml_value

DIVERGENCES = {"sgan": ({"name": "sgan", "params": {}}, 1, DCGAN_ADAM, "batch"), **QUALITY_DIVERGENCES}
NAMES = {"sgan": "SGAN (minimax)", **LABELS}
DEFAULT = ["sgan-ns", "wgan-gp", "gan-qp-l1"]  # the variants of benchmarks/stacked.toml
SWEEP = ROOT / "benchmarks" / "stacked.toml"
DEFAULT_EVAL = 26_000
#: (method, modes of 1000, reverse KL): THEORY.md §5
PUBLISHED = [("DCGAN", "99", "3.4"), ("Unrolled GAN", "48.7", "4.32"), ("VEEGAN", "150", "2.95"),
             ("PacDCGAN2", "1000", "0.06")]
STACKS = 60_000


def spec_dict(divergence: str, seed: int, steps: int, n_eval: int, n_stacks: int, data_root: Path) -> dict[str, Any]:
    table, critic_steps, opt, norm = DIVERGENCES[divergence]
    return {
        "run": {"steps": steps, "batch_size": 64, "critic_steps": critic_steps, "seed": seed, "device": "cpu",
                "log_every": max(1, steps // 10), "sample_every": steps, "checkpoint_every": steps,
                "keep_checkpoints": 1, "optimizer": {"generator": dict(opt), "critic": dict(opt)}},
        "data": {"name": "stacked-mnist",
                 "params": {"root": str(data_root / "mnist"), "resolution": 28, "n_samples": n_stacks}},
        "generator": {"name": "dcgan", "params": {"latent_dim": 128, "width": 32, "kernel": 5}},
        "critic": {"name": "dcgan", "params": {"width": 32, "kernel": 5, "norm": norm, "head_bias": False}},
        "divergence": table,
        "metrics": [{"name": "stacked-mnist-modes", "params": {"n_samples": n_eval}}],
    }


def sweep_rows(sweep: Any, results: list[Any]) -> list[dict[str, Any]]:
    """The per-run rows of the table, from the sweep's results (minutes from each run's files)."""
    folders = {(run.variant, run.seed): run.out for run in sweep.runs}
    return [{"divergence": r.name, "seed": seed, "modes": r.values["stacked-mnist-modes/modes"][seed],
             "high_quality": r.values["stacked-mnist-modes/high_quality"][seed],
             "reverse_kl": r.values["stacked-mnist-modes/reverse_kl"][seed],
             "minutes": run_minutes(folders[(r.name, seed)])}
            for r in results for seed in r.seeds_done()]


def real_reference(job: tuple[int, int, str]) -> dict[str, float]:
    """The metric with ``n_eval`` real stacks (seed 0's training stacks) in place of the generated samples."""
    import torch

    from gankit.build import build_data
    from gankit.evaluate import build_metrics, metric_tables, real_subset, run_metrics
    from gankit.protocols import BuildEnv, EvalContext
    from gankit.spec import validate_spec

    n_eval, n_stacks, data_root = job
    torch.set_num_threads(1)
    spec = validate_spec(spec_dict("sgan-ns", 0, 1, n_eval, n_stacks, Path(data_root)))
    data = build_data(spec, CACHE_DIR)
    env = BuildEnv(data=data.info, spec=spec, cache_dir=CACHE_DIR)
    metrics = build_metrics(metric_tables(spec.metrics, []), env)
    cpu = torch.device("cpu")
    train = data.dataset("train")
    ctx = EvalContext(info=data.info, device=cpu, cache_dir=CACHE_DIR,
                      sample_real=lambda n, split="train": real_subset(train, n, 0, cpu, False),
                      sample_fake=lambda n: real_subset(train, n, 1, cpu, False))
    m = run_metrics(metrics, ctx)
    return {k.removeprefix("stacked-mnist-modes/"): v for k, v in m.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="1 seed, 100 steps, SGAN-NS and GAN-QP L1, 10,000 stacks, 2,600 samples: minutes")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=3000, help="generator steps of every run")
    parser.add_argument("--eval", dest="n_eval", type=int, default=DEFAULT_EVAL, help="generated samples labelled")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--divergences", nargs="+", default=DEFAULT, choices=DEFAULT)
    parser.add_argument("--data-root", type=Path, default=DATA_ROOT, help="folder holding mnist/")
    parser.add_argument("--set", dest="overrides", action="append", default=[], help="spec override for every run")
    parser.add_argument("--note", default="", help="a sentence added under the table (e.g. what was reduced)")
    parser.add_argument("--write", action="store_true", help="append the result to benchmarks/results/HISTORY.md")
    args = parser.parse_args()
    if args.quick:
        seeds, steps, n_eval, n_stacks = 1, 100, 2600, 10_000
        divergences = ["sgan-ns", "gan-qp-l1"] if args.divergences == DEFAULT else args.divergences
    else:
        seeds, steps, n_eval, n_stacks = args.seeds, args.steps, args.n_eval, STACKS
        divergences = args.divergences
    if not (args.data_root / "mnist" / "train-images-idx3-ubyte.gz").exists():
        parser.error(f"{args.data_root / 'mnist'}: no MNIST IDX files (see --data-root)")
    root = str(args.data_root.resolve())
    with ProcessPoolExecutor(max_workers=1) as pool:
        real = pool.submit(real_reference, (n_eval, n_stacks, root)).result()
    overrides = [*steps_overrides(steps), f"metrics.0.params.n_samples={n_eval}",
                 f"data.params.n_samples={n_stacks}", f"data.params.root={toml_value(str(Path(root) / 'mnist'))}",
                 *args.overrides]
    sized = [f"metrics.0.params.n_samples={n_eval}"] if n_eval != DEFAULT_EVAL else []
    with tempfile.TemporaryDirectory(prefix="bench-stacked-") as tmp:
        out = Path(tmp) if args.quick else sweep_out_dir("stacked", steps, [*sized, *args.overrides])
        sweep, results = run_sweep_file(SWEEP, overrides, list(range(seeds)), divergences, out, args.jobs)
        rows = sweep_rows(sweep, results)
        grids: list[str] = []
        if not args.quick:
            RESULTS_DIR.mkdir(parents=True, exist_ok=True)
            suffix = "-tuned" if args.overrides else ""
            for run in (r for r in sweep.runs if r.seed == 0):
                target = RESULTS_DIR / f"stacked-{run.variant}{suffix}.png"
                shutil.copy(final_sample(run.out, steps), target)
                grids.append(str(target.relative_to(ROOT)))

    lines = [
        f"{seeds} seed(s), {steps} generator steps, batch 64, DCGAN width 32 k5 on {n_stacks} stacks; "
        f"{n_eval} generated samples labelled by `mnist-classifier`.",
        "",
        "| method | critic steps | modes (/1000) ↑ | reverse KL ↓ | high-quality % | min/run |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for divergence in divergences:
        sel = [r for r in rows if r["divergence"] == divergence]
        lines.append(
            f"| gankit {NAMES[divergence]} | {DIVERGENCES[divergence][1]} | {mean_se([r['modes'] for r in sel], 1)} "
            f"| {mean_se([r['reverse_kl'] for r in sel])} | {mean_se([r['high_quality'] for r in sel], 1)} | "
            f"{statistics.fmean(r['minutes'] for r in sel):.1f} |"
        )
    lines.append(f"| real stacks ({n_eval}, reference) | | {real['modes']:.0f} | {real['reverse_kl']:.2f} | "
                 f"{real['high_quality']:.1f} | |")
    for name, modes, kl in PUBLISHED:
        lines.append(f"| {name} (published) | | {modes} | {kl} | | |")
    lines += ["", "Mean ± standard error over seeds. The published rows (VEEGAN and PacGAN papers, THEORY.md §5) "
              "used their own DCGANs and training budgets: compare orders of magnitude, not digits. High quality: "
              "every channel's digit predicted with probability ≥ 0.5."]
    lines += closing_lines(grids, args.overrides, args.note)
    print(report("Stacked MNIST (modes captured, reverse KL)", "\n".join(lines), args.write))


if __name__ == "__main__":
    main()
