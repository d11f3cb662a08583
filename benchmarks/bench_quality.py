"""MNIST / Fashion-MNIST image quality: domain FID, KID and IS of seven divergences on one DCGAN.

The runs are the sweeps ``benchmarks/quality-mnist.toml`` and ``benchmarks/quality-fashion-mnist.toml`` (base
spec ``benchmarks/specs/quality-dcgan.toml``), trained through ``gankit sweep``; this script adds what is
specific to the benchmark: the noise floor, the GAN-QP-vs-WGAN-GP verdict, the per-seed line and the grids.

Protocol: the DCGAN of specs/mnist-dcgan.toml (latent 128, width 32, 5×5 kernels, batch 64, 28×28, a critic
head without bias) for every divergence, the same number of generator steps for all, N seeds. Each
divergence keeps its usual settings (the sweep files' variants, summarised in DIVERGENCES): WGAN-GP 5 critic
steps, Adam(1e-4, β = (0, 0.9)) and a layer-norm critic (a per-sample gradient penalty is wrong with batch
norm); GAN-QP the reference settings of THEORY.md §2 (λ = 10, distance per real/fake pair, 2 critic steps,
Adam(2e-4, β1 = 0.5)); the others the
DCGAN defaults (1 critic step, Adam(2e-4, β1 = 0.5), batch-norm critic). Everything goes through the spec: no
special code path.

Metrics (THEORY.md §4) with the project's own classifier as feature extractor (``mnist-classifier`` /
``fashion-mnist-classifier``): a *domain* FID / KID / IS, comparable only within this project. FID compares
``--eval`` generated samples with the statistics of the whole training split; KID (100 subsets of 1,000) uses
``--eval`` real training samples; IS uses 10 splits. The noise floor is the same three metrics with the real
test set (``--eval`` images) in place of the generated samples: no generator can be expected to beat it.

    python benchmarks/bench_quality.py [--quick] [--seeds 3] [--first-seed 0] [--steps 3000] [--eval 10000] [--jobs 2]
        [--datasets mnist fashion-mnist] [--divergences sgan-ns wgan-gp ...] [--data-root ../shared/data]
        [--set run.ema=0.999 ...] [--write]

Runs live in runs/benchmarks/quality-<data>/steps-<N>[-<hash of --set>]/ (a rerun reuses finished runs and
resumes interrupted ones; --quick trains in a temporary folder). Mean ± standard error over seeds. Sample grids
of seed 0 go to benchmarks/results/ (not in --quick).
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import statistics
import tempfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from common import (
    ROOT,
    closing_lines,
    final_sample,
    mean_se,
    report,
    run_minutes,
    run_sweep_file,
    seed_range,
    stats,
    steps_overrides,
    sweep_out_dir,
)

from gankit.sweep.plan import toml_value

RESULTS_DIR = ROOT / "benchmarks" / "results"
BENCH = ROOT / "benchmarks"
DATA_ROOT = Path(os.environ.get("GANKIT_TEST_DATA", ROOT.parent / "shared" / "data"))
CACHE_DIR = ROOT / ".gankit-cache"

DCGAN_ADAM = {"name": "adam", "lr": 2e-4, "betas": [0.5, 0.999]}
WGAN_GP_ADAM = {"name": "adam", "lr": 1e-4, "betas": [0.0, 0.9]}

#: name -> (divergence table, critic steps, optimizer of both networks, critic norm): what the variants of the
#: sweep files set (the table's columns; the noise floor's spec)
DIVERGENCES: dict[str, tuple[dict[str, Any], int, dict[str, Any], str]] = {
    "sgan-ns": ({"name": "sgan-ns", "params": {}}, 1, DCGAN_ADAM, "batch"),
    "lsgan": ({"name": "lsgan", "params": {"a": 0.0, "b": 1.0, "c": 1.0}}, 1, DCGAN_ADAM, "batch"),
    "wgan-gp": ({"name": "wgan-gp", "params": {"lam": 10.0}}, 5, WGAN_GP_ADAM, "layer"),
    "hinge": ({"name": "hinge", "params": {}}, 1, DCGAN_ADAM, "batch"),
    "rsgan": ({"name": "rsgan", "params": {}}, 1, DCGAN_ADAM, "batch"),
    "gan-qp-l1": ({"name": "gan-qp", "params": {"lam": 10.0, "distance": "l1"}}, 2, DCGAN_ADAM, "batch"),
    "gan-qp-l2": ({"name": "gan-qp", "params": {"lam": 10.0, "distance": "l2"}}, 2, DCGAN_ADAM, "batch"),
}
LABELS = {"sgan-ns": "SGAN-NS", "lsgan": "LSGAN", "wgan-gp": "WGAN-GP", "hinge": "hinge", "rsgan": "RSGAN",
          "gan-qp-l1": "GAN-QP L1", "gan-qp-l2": "GAN-QP L2"}
EXTRACTORS = {"mnist": "mnist-classifier", "fashion-mnist": "fashion-mnist-classifier"}
TITLES = {"mnist": "MNIST", "fashion-mnist": "Fashion-MNIST"}
DEFAULT_EVAL = 10_000  # generated samples of the sweep files' metrics
FULL_TRAIN = 60_000  # n_real: the reference statistics of the whole training split


def metric_tables(dataset: str, n_eval: int, n_real: int) -> list[dict[str, Any]]:
    extractor = EXTRACTORS[dataset]
    return [
        {"name": "fid", "params": {"extractor": extractor, "n_samples": n_eval, "n_real": n_real}},
        {"name": "kid", "params": {"extractor": extractor, "n_samples": n_eval}},
        {"name": "is", "params": {"extractor": extractor, "n_samples": n_eval}},
    ]


def spec_dict(dataset: str, divergence: str, seed: int, steps: int, n_eval: int, n_real: int,
              data_root: Path) -> dict[str, Any]:
    table, critic_steps, opt, norm = DIVERGENCES[divergence]
    return {
        "run": {"steps": steps, "batch_size": 64, "critic_steps": critic_steps, "seed": seed, "device": "cpu",
                "log_every": max(1, steps // 10), "sample_every": steps, "checkpoint_every": steps,
                "keep_checkpoints": 1, "optimizer": {"generator": dict(opt), "critic": dict(opt)}},
        "data": {"name": dataset, "params": {"root": str(data_root / dataset), "resolution": 28}},
        "generator": {"name": "dcgan", "params": {"latent_dim": 128, "width": 32, "kernel": 5}},
        "critic": {"name": "dcgan", "params": {"width": 32, "kernel": 5, "norm": norm, "head_bias": False}},
        "divergence": table,
        "metrics": metric_tables(dataset, n_eval, n_real),
    }


def sweep_rows(dataset: str, sweep: Any, results: list[Any]) -> list[dict[str, Any]]:
    """The per-run rows of the tables, from a sweep's results (minutes from each run's files)."""
    folders = {(run.variant, run.seed): run.out for run in sweep.runs}
    rows = []
    for r in results:
        for seed in r.seeds_done():
            rows.append({"dataset": dataset, "divergence": r.name, "seed": seed, "fid": r.values["fid"][seed],
                         "kid": r.values["kid"][seed], "is": r.values["is"][seed],
                         "minutes": run_minutes(folders[(r.name, seed)])})
    return rows


def metric_overrides(n_eval: int, n_real: int) -> list[str]:
    """The sweep files' metrics with another sample count (--eval, --quick)."""
    return [f"metrics.0.params.n_samples={n_eval}", f"metrics.0.params.n_real={n_real}",
            f"metrics.1.params.n_samples={n_eval}", f"metrics.2.params.n_samples={n_eval}"]


def noise_floor(job: tuple[str, int, int, str]) -> dict[str, Any]:
    """The metrics with ``n_eval`` real *test* images as the 'generated' samples, against the training split,
    built from the same spec tables as the GAN runs (only the sample source differs)."""
    import torch

    from gankit.build import build_data
    from gankit.evaluate import build_metrics, real_subset, run_metrics
    from gankit.evaluate import metric_tables as eval_tables
    from gankit.protocols import BuildEnv, EvalContext
    from gankit.spec import validate_spec

    dataset, n_eval, n_real, data_root = job
    torch.set_num_threads(1)
    spec = validate_spec(spec_dict(dataset, "sgan-ns", 0, 1, n_eval, n_real, Path(data_root)))
    data = build_data(spec, CACHE_DIR)
    env = BuildEnv(data=data.info, spec=spec, cache_dir=CACHE_DIR)
    metrics = build_metrics(eval_tables(spec.metrics, []), env)
    cpu = torch.device("cpu")
    train, test = data.dataset("train"), data.dataset("test")
    ctx = EvalContext(
        info=data.info, device=cpu, cache_dir=CACHE_DIR,
        # the trainer's real subset for seed 0, so the reference statistics are the GAN runs' ones
        sample_real=lambda n, split="train": real_subset(train if split == "train" else test, n, 0, cpu, False),
        sample_fake=lambda n: real_subset(test, n, 1, cpu, False),
    )
    m = run_metrics(metrics, ctx)
    return {"dataset": dataset, "fid": m["fid"], "kid": m["kid"], "is": m["is"]}


def ganqp_verdict(rows: list[dict[str, Any]], datasets: list[str], divergences: list[str]) -> str:
    """One sentence per data set: does GAN-QP reach at least WGAN-GP's FID (THEORY.md §2, the paper's claim)?"""
    if "wgan-gp" not in divergences or not any(d.startswith("gan-qp") for d in divergences):
        return ""
    parts = []
    for dataset in datasets:
        w_mean, w_se = stats([r["fid"] for r in rows if r["dataset"] == dataset and r["divergence"] == "wgan-gp"])
        for qp in (d for d in divergences if d.startswith("gan-qp")):
            q_mean, q_se = stats([r["fid"] for r in rows if r["dataset"] == dataset and r["divergence"] == qp])
            gap = q_mean - w_mean
            if gap <= 0:
                verdict = "at least as good: the claim holds here"
            elif q_se is None or w_se is None:
                verdict = "worse, on one seed: too few runs to tell a real gap from seed noise"
            elif gap <= 2 * math.hypot(q_se, w_se):
                verdict = "worse, but within two standard errors of the difference: consistent with the claim"
            else:
                verdict = "worse by more than two standard errors: the claim does not hold at this budget"
            parts.append(f"{TITLES[dataset]}: {LABELS[qp]} FID {q_mean:.2f} vs WGAN-GP {w_mean:.2f} — {verdict}")
    return ("GAN-QP paper's claim (GAN-QP at least as good as WGAN-GP; THEORY.md §2), checked on FID: "
            + "; ".join(parts) + ".")


def result_tables(rows: list[dict[str, Any]], floors: dict[str, dict[str, Any]], datasets: list[str],
                  divergences: list[str], seeds: list[int], steps: int, n_eval: int, n_real: int) -> list[str]:
    """One table per data set (mean ± standard error, the noise floor first), each method's per-seed FIDs (so runs
    of other seeds can be pooled with these), and the GAN-QP-vs-WGAN-GP verdict."""
    lines: list[str] = []
    for dataset in datasets:
        extractor = EXTRACTORS[dataset]
        floor = floors[dataset]
        lines += [
            f"**{TITLES[dataset]}** ({len(seeds)} seed(s): {seed_range(seeds)}; {steps} generator steps, batch 64, "
            f"DCGAN width 32 k5, 28×28; `{extractor}` features, {n_eval} generated samples vs the "
            f"{'whole training split' if n_real >= FULL_TRAIN else f'{n_real} training images'})",
            "",
            "| method | critic steps | Adam lr, β | critic norm | FID ↓ | KID ×10³ ↓ | IS ↑ | min/run |",
            "| --- | --- | --- | --- | --- | --- | --- | --- |",
            f"| real test set vs train (noise floor) | | | | {floor['fid']:.2f} | {1000 * floor['kid']:.2f} | "
            f"{floor['is']:.2f} | |",
        ]
        per_seed = []
        for divergence in divergences:
            _, critic_steps, opt, norm = DIVERGENCES[divergence]
            sel = sorted((r for r in rows if r["dataset"] == dataset and r["divergence"] == divergence),
                         key=lambda r: r["seed"])
            lines.append(
                f"| {LABELS[divergence]} | {critic_steps} | {opt['lr']:g}, ({opt['betas'][0]:g}, {opt['betas'][1]:g}) "
                f"| {norm} | {mean_se([r['fid'] for r in sel])} | {mean_se([1000 * r['kid'] for r in sel])} | "
                f"{mean_se([r['is'] for r in sel])} | {statistics.fmean(r['minutes'] for r in sel):.1f} |"
            )
            per_seed.append(f"{LABELS[divergence]} " + ", ".join(
                f"{r['fid']:.3f}/{1000 * r['kid']:.2f}/{r['is']:.3f}" for r in sel))
        lines += ["", f"Per seed (FID/KID×10³/IS, seeds in order): {'; '.join(per_seed)}.", ""]
    lines.append("Mean ± standard error over seeds. Domain metrics from the project's own classifier (THEORY.md "
                 "§4): comparable within this project only, not with published Inception FIDs. The noise floor "
                 "puts the real test images where the generated ones go; their IS is the practical ceiling (the "
                 "classifiers were trained with label smoothing 0.05, so even real images score well below 10). "
                 "Every method gets the same number of generator steps (WGAN-GP thus gets 5 critic updates per "
                 "step, GAN-QP 2, the others 1).")
    verdict = ganqp_verdict(rows, datasets, divergences)
    if verdict:
        lines += ["", verdict]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="1 seed, 100 steps, MNIST, SGAN-NS and GAN-QP L1, 1,000 eval samples: minutes")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--first-seed", type=int, default=0,
                        help="seeds run are first-seed .. first-seed+seeds-1 (to add seeds to an earlier table)")
    parser.add_argument("--steps", type=int, default=3000, help="generator steps of every run")
    parser.add_argument("--eval", dest="n_eval", type=int, default=DEFAULT_EVAL,
                        help="generated samples for FID/KID/IS (and real test images for the noise floor)")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--datasets", nargs="+", default=["mnist", "fashion-mnist"], choices=list(EXTRACTORS))
    parser.add_argument("--divergences", nargs="+", default=list(DIVERGENCES), choices=list(DIVERGENCES))
    parser.add_argument("--data-root", type=Path, default=DATA_ROOT, help="folder holding mnist/, fashion-mnist/")
    parser.add_argument("--set", dest="overrides", action="append", default=[], help="spec override for every run")
    parser.add_argument("--note", default="", help="a sentence added under the tables (e.g. what was reduced)")
    parser.add_argument("--write", action="store_true", help="append the result to benchmarks/results/HISTORY.md")
    args = parser.parse_args()
    if args.quick:
        seeds, steps, n_eval, n_real = 1, 100, 1000, 2000
        datasets = ["mnist"] if args.datasets == parser.get_default("datasets") else args.datasets
        divergences = (["sgan-ns", "gan-qp-l1"] if args.divergences == parser.get_default("divergences")
                       else args.divergences)
    else:
        seeds, steps, n_eval, n_real = args.seeds, args.steps, args.n_eval, FULL_TRAIN
        datasets, divergences = args.datasets, args.divergences
    if seeds < 1 or args.first_seed < 0 or steps < 1:
        parser.error("--seeds and --steps must be >= 1, --first-seed >= 0")
    seed_list = list(range(args.first_seed, args.first_seed + seeds))
    keep_grids = not args.quick and 0 in seed_list  # seed 0's grids; a smoke run keeps none
    for dataset in datasets:
        if not (args.data_root / dataset / "train-images-idx3-ubyte.gz").exists():
            parser.error(f"{args.data_root / dataset}: no {dataset} IDX files (see --data-root)")
    root = str(args.data_root.resolve())
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        floors = {f["dataset"]: f for f in pool.map(noise_floor, [(d, n_eval, n_real, root) for d in datasets])}
    rows: list[dict[str, Any]] = []
    grids: list[str] = []
    with tempfile.TemporaryDirectory(prefix="bench-quality-") as tmp:
        for dataset in datasets:
            overrides = [*steps_overrides(steps), *metric_overrides(n_eval, n_real),
                         f"data.params.root={toml_value(str(Path(root) / dataset))}", *args.overrides]
            out = Path(tmp) / dataset if args.quick else sweep_out_dir(f"quality-{dataset}", steps, [
                *(metric_overrides(n_eval, n_real) if n_eval != DEFAULT_EVAL else []), *args.overrides])
            sweep, results = run_sweep_file(BENCH / f"quality-{dataset}.toml", overrides, seed_list, divergences,
                                            out, args.jobs)
            rows += sweep_rows(dataset, sweep, results)
            if keep_grids:
                RESULTS_DIR.mkdir(parents=True, exist_ok=True)
                suffix = "-tuned" if args.overrides else ""
                for run in (r for r in sweep.runs if r.seed == 0):
                    target = RESULTS_DIR / f"quality-{dataset}-{run.variant}{suffix}.png"
                    shutil.copy(final_sample(run.out, steps), target)
                    grids.append(str(target.relative_to(ROOT)))

    lines = result_tables(rows, floors, datasets, divergences, seed_list, steps, n_eval, n_real)
    lines += closing_lines(grids, args.overrides, args.note)
    print(report("MNIST / Fashion-MNIST quality (domain FID / KID / IS)", "\n".join(lines), args.write))


if __name__ == "__main__":
    main()
