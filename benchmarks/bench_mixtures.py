"""2-D mixtures (ring-8, grid-25) under the VEEGAN/PacGAN protocol, next to the published rows.

The runs are the sweeps ``benchmarks/mixtures-ring.toml`` and ``benchmarks/mixtures-grid.toml`` (base spec
``benchmarks/specs/mixtures.toml``), trained through ``gankit sweep``; this script adds what is specific to the
benchmark: the published rows, the GAN-QP target, the per-seed line and the scatter plots.

Protocol (THEORY.md §5): generator MLP 4×400 ReLU with a 2-d N(0, I) latent; 100,000 training samples;
batch 100; Adam lr 1e-4; 2,500 samples evaluated; high quality = within 3 std of the nearest mode; a mode is
captured when a high-quality sample is nearest to it; reverse KL of the mode histogram to uniform. The critic
is an MLP 4×400 LeakyReLU(0.2). Each divergence keeps its own critic-step count (the sweep files' variants).

    python benchmarks/bench_mixtures.py [--quick] [--seeds 5] [--first-seed 0] [--steps 10000] [--jobs 2]
        [--data ring grid] [--divergences sgan-ns wgan-gp ...] [--set run.critic_steps=5 ...] [--note '...'] [--write]

Runs live in runs/benchmarks/mixtures-<data>/steps-<N>[-<hash of --set>]/ (a rerun reuses finished runs and
resumes interrupted ones; --quick trains in a temporary folder). Mean ± standard error over seeds. Sample
scatter plots of seed 0 go to benchmarks/results/ (not in --quick).
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path
from typing import Any

from common import (
    ROOT,
    closing_lines,
    final_sample,
    mean_se,
    report,
    run_sweep_file,
    seed_range,
    steps_overrides,
    sweep_out_dir,
)

RESULTS_DIR = ROOT / "benchmarks" / "results"
BENCH = ROOT / "benchmarks"
DIVERGENCES = ["sgan-ns", "wgan-gp", "rsgan", "hinge", "gan-qp"]  # the variants of the sweep files

PUBLISHED = {
    "ring": [("GAN (VEEGAN table)", "1", "99.3"), ("Unrolled GAN (VEEGAN table)", "7.6", "35.6"),
             ("VEEGAN", "8", "52.9"), ("GAN (PacGAN table)", "6.3", "98.2"), ("PacGAN2", "7.9", "95.6"),
             ("PacGAN4", "7.8", "95.9")],
    "grid": [("GAN (VEEGAN table)", "3.3", "0.5"), ("Unrolled GAN (VEEGAN table)", "23.6", "16"),
             ("VEEGAN", "24.6", "40"), ("GAN (PacGAN table)", "17.3", "94.8"), ("PacGAN2", "23.8", "91.3"),
             ("PacGAN4", "24.8", "93.6")],
}
TARGETS = {"ring": (8, 97.0), "grid": (25, 95.0)}


def sweep_rows(data: str, sweep: Any, results: list[Any]) -> list[dict[str, Any]]:
    """The per-run rows of the tables, from a sweep's results."""
    rows = []
    for r in results:
        for seed in r.seeds_done():
            rows.append({"data": data, "divergence": r.name, "seed": seed,
                         "modes": r.values["mode-coverage/modes"][seed],
                         "high_quality": r.values["mode-coverage/high_quality"][seed],
                         "reverse_kl": r.values["mode-coverage/reverse_kl"][seed], "plot": None})
    return rows


def result_tables(rows: list[dict[str, Any]], datasets: list[str], divergences: list[str], seeds: list[int],
                  steps: int) -> list[str]:
    """One table per data set: mean ± standard error of each divergence, the published rows, the per-seed values
    (so runs of other seeds can be pooled with these) and the GAN-QP target."""
    lines: list[str] = []
    for data in datasets:
        target_modes, target_hq = TARGETS[data]
        lines += ["", f"**{data}** ({len(seeds)} seed(s): {seed_range(seeds)}; {steps} generator steps, batch 100)", "",
                  "| method | modes | high-quality % | reverse KL |", "| --- | --- | --- | --- |"]
        per_seed = []
        for divergence in divergences:
            sel = sorted((r for r in rows if r["data"] == data and r["divergence"] == divergence),
                         key=lambda r: r["seed"])
            lines.append(
                f"| gankit {divergence} | {mean_se([r['modes'] for r in sel])} | "
                f"{mean_se([r['high_quality'] for r in sel])} | {mean_se([r['reverse_kl'] for r in sel], 3)} |"
            )
            per_seed.append(f"{divergence} " + ", ".join(f"{r['modes']:g}/{r['high_quality']:.2f}" for r in sel))
        lines += [f"| {name} (published) | {modes} | {hq} | |" for name, modes, hq in PUBLISHED[data]]
        lines += ["", f"Per seed (modes/high-quality %, seeds in order): {'; '.join(per_seed)}.",
                  "", f"Target for GAN-QP: {target_modes}/{target_modes} modes, ≥ {target_hq:.0f} % high quality."]
    return lines[1:]  # blank lines between the tables, none around them


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="1 seed, 1,500 steps: a smoke run in minutes")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--first-seed", type=int, default=0,
                        help="seeds run are first-seed .. first-seed+seeds-1 (to add seeds to an earlier table)")
    parser.add_argument("--steps", type=int, default=10_000)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--data", nargs="+", default=["ring", "grid"], choices=["ring", "grid"])
    parser.add_argument("--divergences", nargs="+", default=DIVERGENCES, choices=DIVERGENCES)
    parser.add_argument("--set", dest="overrides", action="append", default=[], help="spec override for every run")
    parser.add_argument("--note", default="", help="a sentence added under the tables (e.g. what was reduced)")
    parser.add_argument("--write", action="store_true", help="append the result to benchmarks/results/HISTORY.md")
    args = parser.parse_args()
    seeds, steps = (1, 1500) if args.quick else (args.seeds, args.steps)
    if seeds < 1 or args.first_seed < 0 or steps < 1:
        parser.error("--seeds and --steps must be >= 1, --first-seed >= 0")
    seed_list = list(range(args.first_seed, args.first_seed + seeds))
    overrides = steps_overrides(steps) + args.overrides
    rows: list[dict[str, Any]] = []
    plots: list[str] = []
    with tempfile.TemporaryDirectory(prefix="bench-mixtures-") as tmp:
        for data in args.data:
            out = Path(tmp) / data if args.quick else sweep_out_dir(f"mixtures-{data}", steps, args.overrides)
            sweep, results = run_sweep_file(BENCH / f"mixtures-{data}.toml", overrides, seed_list, args.divergences,
                                            out, args.jobs)
            rows += sweep_rows(data, sweep, results)
            if not args.quick and 0 in seed_list:  # a smoke run must not replace the recorded scatter plots
                RESULTS_DIR.mkdir(parents=True, exist_ok=True)
                suffix = "-tuned" if args.overrides else ""
                for run in (r for r in sweep.runs if r.seed == 0):
                    target = RESULTS_DIR / f"mixtures-{data}-{run.variant}{suffix}.png"
                    shutil.copy(final_sample(run.out, steps), target)
                    plots.append(str(target.relative_to(ROOT)))
    lines = result_tables(rows, args.data, args.divergences, seed_list, steps)
    lines += closing_lines(plots, args.overrides, args.note)
    print(report("2-D mixtures (VEEGAN/PacGAN protocol)", "\n".join(lines), args.write))


if __name__ == "__main__":
    main()
