"""2-D mixtures (ring-8, grid-25) under the VEEGAN/PacGAN protocol, next to the published rows.

Protocol (THEORY.md §5): generator MLP 4×400 ReLU with a 2-d N(0, I) latent; 100,000 training samples;
batch 100; Adam lr 1e-4; 2,500 samples evaluated; high quality = within 3 std of the nearest mode; a mode is
captured when a high-quality sample is nearest to it; reverse KL of the mode histogram to uniform. The critic
is an MLP 4×400 LeakyReLU(0.2). Each divergence keeps its own critic-step count (see DIVERGENCES).

    python benchmarks/bench_mixtures.py [--quick] [--seeds 5] [--first-seed 0] [--steps 10000] [--jobs 2]
        [--data ring grid] [--divergences sgan-ns wgan-gp ...] [--set run.critic_steps=5 ...] [--note '...'] [--write]

Mean ± standard error over seeds. Sample scatter plots of seed 0 go to benchmarks/results/ (not in --quick).
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from common import ROOT, closing_lines, mean_se, report, seed_range

RESULTS_DIR = ROOT / "benchmarks" / "results"

#: name -> (divergence table, critic steps)
DIVERGENCES: dict[str, tuple[dict[str, Any], int]] = {
    "sgan-ns": ({"name": "sgan-ns", "params": {}}, 1),
    "wgan-gp": ({"name": "wgan-gp", "params": {}}, 5),
    "rsgan": ({"name": "rsgan", "params": {}}, 1),
    "hinge": ({"name": "hinge", "params": {}}, 1),
    "gan-qp": ({"name": "gan-qp", "params": {"lam": 10.0, "distance": "l2"}}, 2),
}

PUBLISHED = {
    "ring": [("GAN (VEEGAN table)", "1", "99.3"), ("Unrolled GAN (VEEGAN table)", "7.6", "35.6"),
             ("VEEGAN", "8", "52.9"), ("GAN (PacGAN table)", "6.3", "98.2"), ("PacGAN2", "7.9", "95.6"),
             ("PacGAN4", "7.8", "95.9")],
    "grid": [("GAN (VEEGAN table)", "3.3", "0.5"), ("Unrolled GAN (VEEGAN table)", "23.6", "16"),
             ("VEEGAN", "24.6", "40"), ("GAN (PacGAN table)", "17.3", "94.8"), ("PacGAN2", "23.8", "91.3"),
             ("PacGAN4", "24.8", "93.6")],
}
TARGETS = {"ring": (8, 97.0), "grid": (25, 95.0)}


def spec_dict(data: str, divergence: str, seed: int, steps: int) -> dict[str, Any]:
    table, critic_steps = DIVERGENCES[divergence]
    opt = {"name": "adam", "lr": 1e-4, "betas": [0.5, 0.999]}
    return {
        "run": {"steps": steps, "batch_size": 100, "critic_steps": critic_steps, "seed": seed, "device": "cpu",
                "log_every": max(1, steps // 10), "sample_every": steps, "checkpoint_every": steps,
                "keep_checkpoints": 1, "optimizer": {"generator": dict(opt), "critic": dict(opt)}},
        "data": {"name": data, "params": {"n_samples": 100_000}},
        "generator": {"name": "mlp", "params": {"latent_dim": 2, "hidden": 400, "depth": 4, "activation": "relu"}},
        "critic": {"name": "mlp", "params": {"hidden": 400, "depth": 4, "activation": "leaky_relu"}},
        "divergence": table,
        "metrics": [{"name": "mode-coverage", "params": {"n_samples": 2500}}],
    }


def run_one(job: tuple[str, str, int, int, list[str], bool]) -> dict[str, Any]:
    import torch

    from gankit.engine.trainer import Trainer, TrainOptions
    from gankit.spec import validate_spec

    data, divergence, seed, steps, overrides, keep_plot = job
    torch.set_num_threads(1)
    spec = validate_spec(spec_dict(data, divergence, seed, steps), overrides)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "run"
        result = Trainer(spec, TrainOptions(out_dir=out, progress=False)).fit()
        plot = None  # the scatter plot kept for the results folder
        if keep_plot and seed == 0:
            RESULTS_DIR.mkdir(parents=True, exist_ok=True)
            suffix = "-tuned" if overrides else ""
            target = RESULTS_DIR / f"mixtures-{data}-{divergence}{suffix}.png"
            shutil.copy(out / "samples" / f"step-{steps:09d}.png", target)
            plot = str(target.relative_to(ROOT))
    m = result.metrics
    return {"data": data, "divergence": divergence, "seed": seed, "modes": m["mode-coverage/modes"],
            "high_quality": m["mode-coverage/high_quality"], "reverse_kl": m["mode-coverage/reverse_kl"],
            "plot": plot}


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
    parser.add_argument("--divergences", nargs="+", default=list(DIVERGENCES), choices=list(DIVERGENCES))
    parser.add_argument("--set", dest="overrides", action="append", default=[], help="spec override for every run")
    parser.add_argument("--note", default="", help="a sentence added under the tables (e.g. what was reduced)")
    parser.add_argument("--write", action="store_true", help="append the result to BENCHMARKS.md")
    args = parser.parse_args()
    seeds, steps = (1, 1500) if args.quick else (args.seeds, args.steps)
    if seeds < 1 or args.first_seed < 0 or steps < 1:
        parser.error("--seeds and --steps must be >= 1, --first-seed >= 0")
    seed_list = list(range(args.first_seed, args.first_seed + seeds))
    keep_plot = not args.quick  # a smoke run must not replace the recorded scatter plots
    jobs = [(d, v, s, steps, args.overrides, keep_plot)
            for d in args.data for v in args.divergences for s in seed_list]
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        rows = list(pool.map(run_one, jobs))
    lines = result_tables(rows, args.data, args.divergences, seed_list, steps)
    plots = [r["plot"] for r in rows if r["plot"]]
    lines += closing_lines(plots, args.overrides, args.note)
    print(report("2-D mixtures (VEEGAN/PacGAN protocol)", "\n".join(lines), args.write))


if __name__ == "__main__":
    main()
