"""Limited data: does augmenting everything the critic sees (DiffAugment, ADA) help with 500 or 2,000 images?

Protocol: the DCGAN of the quality table (benchmarks/bench_quality.py: latent 128, width 32, 5×5 kernels, batch
64, 28×28, each divergence with its usual settings) trained on the first ``limit`` training images (the data's
``limit`` param) of MNIST and Fashion-MNIST, with no augmentation, DiffAugment(color, translation, cutout) and
ADA, N seeds, the same number of generator steps for all. Everything goes through the spec (``[augment]``).

Metrics, as in both papers, against the **whole** training split (60,000 images), not the few images trained on:
domain FID of ``--eval`` generated samples (the project's classifiers as feature extractor, THEORY.md §4) and KID
(100 subsets of 1,000) against ``--eval`` training images. The noise floor puts real test images in place of
the generated ones.

Leak check, measured on ``--leak`` generated samples and the same number of real test images (the baseline):

* grey squares: a 6×6 window whose pixels are all mid-grey (|x| < 0.25). Cutout and zero padding fill with 0,
  mid-grey in [−1, 1], while MNIST-family backgrounds are −1 and strokes near +1;
* grey borders: a 2-pixel band along a whole side that is ≥ 90 % mid-grey (translation's zero padding);
* inverted: the mean of the outer 2-pixel frame is above 0 (a light background: ADA's luma flip);
* reoriented: the domain classifier is more confident (log-probability of its predicted class) in the median of
  the seven other flips/90° rotations of the sample than in the sample itself (ADA's x-flip and rotations on
  data that has an orientation). Real digits: ≈ 1 %; digits all turned 90°: ≈ 70 %; but blurred or noisy
  digits also score 20–50 % (no orientation is clear), so compare a row with the same divergence's "none" row,
  not only with the real baseline.

ADA's p is logged by the run (``augment/p``); its trajectories are plotted. Its adjustment speed is a parameter:
the paper's 500k images for p to cross [0, 1] is longer than these runs (3,000 steps × 64 = 192k real images at
one critic step), so ``--ada-kimg`` (default 100) scales it to the budget.

    python benchmarks/bench_limited.py [--quick] [--seeds 3] [--first-seed 0] [--steps 3000] [--eval 10000]
        [--leak 2000] [--jobs 2] [--datasets mnist fashion-mnist] [--limits 500 2000]
        [--divergences sgan-ns gan-qp-l1] [--augments none diffaugment ada] [--ada-kimg 100]
        [--data-root ../shared/data] [--set KEY=VALUE ...] [--write]

Full runs write benchmarks/results/limited-results.json (every run), limited-ada-p.png (p trajectories) and
the sample grids of seed 0 (limited-<data>-<limit>-<divergence>-<augment>.png); ``--quick`` writes nothing
there (a smoke test: 1 seed, 30 steps, MNIST with 500 images, 500 eval samples).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from bench_quality import CACHE_DIR, DATA_ROOT, DIVERGENCES, EXTRACTORS, FULL_TRAIN, LABELS, TITLES, noise_floor
from bench_quality import spec_dict as quality_spec
from common import closing_lines, mean_se, report, seed_range, stats

RESULTS_DIR = Path(__file__).resolve().parent / "results"
AUGMENT_LABELS = {"none": "none", "diffaugment": "DiffAugment (color, translation, cutout)", "ada": "ADA (bgc)"}
GREY = 0.25  # |x| below this is mid-grey: what cutout and zero padding write (0 in [-1, 1])
SQUARE = 6  # side of the grey window that counts as a cutout-like hole
BAND = 2  # width of the border band / frame, pixels


def augment_table(augment: str, ada_kimg: float) -> dict[str, Any] | None:
    if augment == "none":
        return None
    if augment == "diffaugment":
        return {"name": "diffaugment", "params": {"policy": ["color", "translation", "cutout"]}}
    return {"name": "ada", "params": {"speed_kimg": ada_kimg}}


def spec_dict(dataset: str, limit: int, divergence: str, augment: str, seed: int, steps: int, ada_kimg: float,
              data_root: Path) -> dict[str, Any]:
    """The quality table's spec on ``limit`` images, with the augmentation, and no metrics: the run's own metrics
    would compare with the ``limit`` images; FID/KID against the whole split are computed after training."""
    spec = quality_spec(dataset, divergence, seed, steps, 1, 2, data_root)
    spec["data"]["params"]["limit"] = limit
    spec["metrics"] = []
    spec["run"]["log_every"] = max(1, steps // 60)  # a p trajectory of about 60 points
    table = augment_table(augment, ada_kimg)
    if table is not None:
        spec["augment"] = table
    return spec


# ----------------------------------------------------------------------------------------- leak check
def dihedral(x: Any) -> list[Any]:
    """The seven non-identity flips/90° rotations of a batch ``(N, C, H, W)``."""
    import torch

    rotations = [torch.rot90(x, k, dims=(2, 3)) for k in range(4)]
    return rotations[1:] + [r.flip(3) for r in rotations]


def leak_statistics(x: Any, classifier: Any) -> dict[str, float]:
    """Fractions of samples with augmentation artefacts (see the module docstring); ``x`` in [−1, 1]."""
    import torch
    import torch.nn.functional as F

    x = x.float().cpu()
    grey = (x.abs() < GREY).float().mean(dim=1, keepdim=True)  # (N, 1, H, W): all channels grey
    squares = (F.avg_pool2d(grey, SQUARE, stride=1) > 1 - 1e-6).flatten(1).any(dim=1)
    sides = torch.stack([grey[..., :BAND, :].mean(dim=(1, 2, 3)), grey[..., -BAND:, :].mean(dim=(1, 2, 3)),
                         grey[..., :, :BAND].mean(dim=(1, 2, 3)), grey[..., :, -BAND:].mean(dim=(1, 2, 3))])
    bands = (sides >= 0.9).any(dim=0)
    frame = torch.ones_like(x[:1, :1])
    frame[..., BAND:-BAND, BAND:-BAND] = 0
    frame_mean = (x * frame).sum(dim=(1, 2, 3)) / (frame.sum() * x.shape[1])
    inverted = frame_mean > 0
    cpu = torch.device("cpu")

    def confidence(batch: Any) -> Any:  # log-probability of the predicted class (softmax saturates at 1)
        return classifier.extract(batch, cpu).logits.log_softmax(dim=1).max(dim=1).values

    own = confidence(x)
    typical_other = torch.stack([confidence(t) for t in dihedral(x)]).median(dim=0).values
    reoriented = typical_other > own
    return {key: float(v.float().mean()) for key, v in
            {"grey_squares": squares, "grey_borders": bands, "inverted": inverted, "reoriented": reoriented}.items()}


def real_leak_baseline(job: tuple[str, int, str]) -> dict[str, Any]:
    import torch

    from gankit.build import build_data
    from gankit.engine.batches import real_subset
    from gankit.features.mnist import load_packaged
    from gankit.spec import validate_spec

    dataset, n_leak, data_root = job
    torch.set_num_threads(1)
    spec = validate_spec(quality_spec(dataset, "sgan-ns", 0, 1, 1, 2, Path(data_root)) | {"metrics": []})
    test = build_data(spec, CACHE_DIR).dataset("test")
    x, _ = real_subset(test, n_leak, 2, torch.device("cpu"), False)
    return {"dataset": dataset, **leak_statistics(x, load_packaged(EXTRACTORS[dataset]))}


# ----------------------------------------------------------------------------------------------- runs
def run_one(job: tuple[str, int, str, str, int, int, int, int, int, float, str, list[str], bool]) -> dict[str, Any]:
    import torch

    from gankit.build import build_data
    from gankit.engine.batches import real_subset
    from gankit.engine.trainer import Trainer, TrainOptions
    from gankit.evaluate import build_metrics, run_metrics
    from gankit.evaluate import metric_tables as eval_tables
    from gankit.features.mnist import load_packaged
    from gankit.protocols import BuildEnv, EvalContext
    from gankit.spec import validate_spec

    (dataset, limit, divergence, augment, seed, steps, n_eval, n_real, n_leak, ada_kimg, data_root, overrides,
     keep_grid) = job
    torch.set_num_threads(1)
    root = Path(data_root)
    spec = validate_spec(spec_dict(dataset, limit, divergence, augment, seed, steps, ada_kimg, root), overrides)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "run"
        trainer = Trainer(spec, TrainOptions(out_dir=out, progress=False, cache_dir=CACHE_DIR))
        trainer.fit()
        minutes = (time.perf_counter() - start) / 60
        aug = trainer.parts.augment
        if aug is not None and not aug.state_dict().get("calls"):
            raise RuntimeError("the engine built [augment] but never applied it")
        rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
        p_trace = [(r["step"], r["augment/p"]) for r in rows if "augment/p" in r]
        rt_trace = [(r["step"], r["augment/rt"]) for r in rows if "augment/rt" in r]
        if keep_grid and seed == 0:
            RESULTS_DIR.mkdir(parents=True, exist_ok=True)
            shutil.copy(out / "samples" / f"step-{steps:09d}.png",
                        RESULTS_DIR / f"limited-{dataset}-{limit}-{divergence}-{augment}.png")

    # FID / KID against the whole training split (the papers' convention), from the same trained generator
    full = quality_spec(dataset, divergence, seed, steps, n_eval, n_real, root)
    full["metrics"] = [t for t in full["metrics"] if t["name"] in ("fid", "kid")]
    full_spec = validate_spec(full)
    data = build_data(full_spec, CACHE_DIR)
    env = BuildEnv(data=data.info, spec=full_spec, cache_dir=CACHE_DIR)
    metrics = build_metrics(eval_tables(full_spec.metrics, []), env)
    cpu = torch.device("cpu")
    splits: dict[str, Any] = {}

    def sample_real(n: int, split: str = "train") -> Any:
        if split not in splits:
            splits[split] = data.dataset(split)  # type: ignore[arg-type]
        return real_subset(splits[split], n, 0, cpu, False)

    gen = torch.Generator().manual_seed(10_000 + seed)
    ctx = EvalContext(info=data.info, device=cpu, cache_dir=CACHE_DIR, sample_real=sample_real,
                      sample_fake=lambda n: trainer.sample_fake(n, gen))
    m = run_metrics(metrics, ctx)
    fake, _ = trainer.sample_fake(n_leak, torch.Generator().manual_seed(20_000 + seed))
    leaks = leak_statistics(fake, load_packaged(EXTRACTORS[dataset]))
    return {"dataset": dataset, "limit": limit, "divergence": divergence, "augment": augment, "seed": seed,
            "fid": m["fid"], "kid": m["kid"], **leaks, "p": p_trace, "rt": rt_trace, "minutes": minutes}


# ------------------------------------------------------------------------------------------- reporting
def _pct(values: list[float]) -> str:
    return mean_se([100 * v for v in values], 1)


def result_tables(rows: list[dict[str, Any]], floors: dict[str, dict[str, Any]], baselines: dict[str, dict[str, Any]],
                  datasets: list[str], limits: list[int], divergences: list[str], augments: list[str],
                  seeds: list[int], steps: int, n_eval: int, n_real: int, n_leak: int) -> list[str]:
    """One table per data set and size: FID/KID against the whole split, the four leak rates, final p."""
    lines: list[str] = []
    reference = "the whole training split" if n_real >= FULL_TRAIN else f"{n_real} training images"
    for dataset in datasets:
        floor, base = floors[dataset], baselines[dataset]
        for limit in limits:
            lines += [
                f"**{TITLES[dataset]}, {limit} training images** ({len(seeds)} seed(s): {seed_range(seeds)}; "
                f"{steps} generator steps, batch 64; `{EXTRACTORS[dataset]}` features, {n_eval} generated samples "
                f"vs {reference}; leak rates on {n_leak} samples)",
                "",
                "| divergence | augmentation | FID ↓ | KID ×10³ ↓ | grey squares % | grey borders % | inverted % | "
                "reoriented % | final p | min/run |",
                "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
                f"| real test set (noise floor, leak baseline) | | {floor['fid']:.2f} | {1000 * floor['kid']:.2f} | "
                f"{100 * base['grey_squares']:.1f} | {100 * base['grey_borders']:.1f} | {100 * base['inverted']:.1f} | "
                f"{100 * base['reoriented']:.1f} | | |",
            ]
            per_seed = []
            for divergence in divergences:
                for augment in augments:
                    sel = sorted((r for r in rows if r["dataset"] == dataset and r["limit"] == limit
                                  and r["divergence"] == divergence and r["augment"] == augment),
                                 key=lambda r: r["seed"])
                    if not sel:
                        continue
                    final_p = [r["p"][-1][1] for r in sel if r["p"]]
                    lines.append(
                        f"| {LABELS[divergence]} | {AUGMENT_LABELS[augment]} | {mean_se([r['fid'] for r in sel])} | "
                        f"{mean_se([1000 * r['kid'] for r in sel])} | {_pct([r['grey_squares'] for r in sel])} | "
                        f"{_pct([r['grey_borders'] for r in sel])} | {_pct([r['inverted'] for r in sel])} | "
                        f"{_pct([r['reoriented'] for r in sel])} | {mean_se(final_p) if final_p else ''} | "
                        f"{statistics.fmean(r['minutes'] for r in sel):.1f} |"
                    )
                    per_seed.append(f"{LABELS[divergence]}+{augment} "
                                    + ", ".join(f"{r['fid']:.3f}/{1000 * r['kid']:.2f}" for r in sel))
            lines += ["", f"Per seed (FID/KID×10³): {'; '.join(per_seed)}.", ""]
            lines += effect_lines(rows, dataset, limit, divergences, augments)
    lines.append(
        "Mean ± standard error over seeds. FID/KID are domain metrics (the project's classifiers, THEORY.md §4) "
        "against the whole training split, as in the DiffAugment and ADA papers; comparable within this project "
        "only. Leak rates: fraction of samples with a 6×6 mid-grey hole (cutout), a mid-grey border band "
        "(translation padding), a light background (luma flip), or a clearer class under a typical flip/rotation "
        "(x-flip, 90° rotations; also raised by blurry samples: compare with the 'none' row); the real test images "
        "give each rate's baseline."
    )
    return lines


def effect_lines(rows: list[dict[str, Any]], dataset: str, limit: int, divergences: list[str],
                 augments: list[str]) -> list[str]:
    """FID change of each augmentation against none, per divergence, with the gap in standard errors."""
    out = []
    for divergence in divergences:
        base = [r["fid"] for r in rows if (r["dataset"], r["limit"], r["divergence"], r["augment"])
                == (dataset, limit, divergence, "none")]
        if not base:
            continue
        b_mean, b_se = stats(base)
        for augment in (a for a in augments if a != "none"):
            sel = [r["fid"] for r in rows if (r["dataset"], r["limit"], r["divergence"], r["augment"])
                   == (dataset, limit, divergence, augment)]
            if not sel:
                continue
            a_mean, a_se = stats(sel)
            change = 100 * (a_mean - b_mean) / b_mean if b_mean else float("nan")
            if a_se is None or b_se is None:
                verdict = "one seed: no error bar"
            else:
                gap = abs(a_mean - b_mean) / max((a_se**2 + b_se**2) ** 0.5, 1e-12)
                verdict = f"{gap:.1f} standard errors"
            out.append(f"{LABELS[divergence]} + {augment}: FID {b_mean:.2f} → {a_mean:.2f} ({change:+.0f} %, "
                       f"{verdict}).")
    return [" ".join(out), ""] if out else []


def plot_p(rows: list[dict[str, Any]], path: Path) -> None:
    """ADA's p against the step, one panel per data set and size, one line per divergence and seed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = sorted({(r["dataset"], r["limit"]) for r in rows if r["augment"] == "ada" and r["p"]})
    if not panels:
        return
    fig, axes = plt.subplots(1, len(panels), figsize=(4 * len(panels), 3), squeeze=False, dpi=90)
    colours = {d: f"C{i}" for i, d in enumerate(sorted({r["divergence"] for r in rows}))}
    for ax, (dataset, limit) in zip(axes.flat, panels, strict=True):
        for r in rows:
            if (r["dataset"], r["limit"], r["augment"]) == (dataset, limit, "ada") and r["p"]:
                steps, ps = zip(*r["p"], strict=True)
                label = LABELS[r["divergence"]] if r["seed"] == min(x["seed"] for x in rows) else None
                ax.plot(steps, ps, color=colours[r["divergence"]], lw=1, label=label)
        ax.set_title(f"{TITLES[dataset]}, {limit} images", fontsize=9)
        ax.set_xlabel("generator step", fontsize=8)
        ax.set_ylim(0, 1)
        ax.legend(fontsize=7)
    axes.flat[0].set_ylabel("ADA p", fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png")
    plt.close(fig)


PAPERS = (
    "What the papers report (Inception FID on CIFAR-10, StyleGAN2 / BigGAN; THEORY.md §6): DiffAugment (Zhao et al. "
    "2020) with color,translation,cutout roughly halves FID at 20 % and 10 % of CIFAR-10 and keeps 100-shot "
    "training stable where the baseline diverges, with a smaller gain on the full set; ADA (Karras et al. 2020) "
    "likewise reports large FID reductions on limited CIFAR-10 and FFHQ subsets (2k–10k images), and that fixed "
    "augmentation with p ≥ 0.8 starts to leak while adaptive p stays below that without tuning."
)


def pooled_report(args: argparse.Namespace) -> None:
    """Rebuild the tables, the combined results file and the p plot from earlier runs' result files."""
    rows: list[dict[str, Any]] = []
    floors: dict[str, Any] = {}
    baselines: dict[str, Any] = {}
    for path in args.report:
        saved = json.loads(path.read_text(encoding="utf-8"))
        rows += saved["rows"]
        floors.update(saved["floors"])
        baselines.update(saved["leak_baselines"])

    def present(key: str, order: list[Any]) -> list[Any]:
        return [v for v in order if any(r[key] == v for r in rows)]

    datasets = present("dataset", list(EXTRACTORS))
    limits = sorted({r["limit"] for r in rows})
    divergences = present("divergence", list(DIVERGENCES))
    augments = present("augment", list(AUGMENT_LABELS))
    seeds = sorted({r["seed"] for r in rows})
    lines = result_tables(rows, floors, baselines, datasets, limits, divergences, augments, seeds, args.steps,
                          args.n_eval, FULL_TRAIN, args.n_leak)
    lines += ["", PAPERS]
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    (RESULTS_DIR / "limited-results.json").write_text(
        json.dumps({"rows": rows, "floors": floors, "leak_baselines": baselines}, indent=1) + "\n", encoding="utf-8")
    plot_p(rows, RESULTS_DIR / "limited-ada-p.png")
    lines += ["", "ADA p trajectories: `benchmarks/results/limited-ada-p.png`; every run: "
              "`benchmarks/results/limited-results.json`."]
    grids = [f"benchmarks/results/limited-{d}-{lim}-{v}-{a}.png" for d in datasets for lim in limits
             for v in divergences for a in augments if (RESULTS_DIR / f"limited-{d}-{lim}-{v}-{a}.png").exists()]
    lines += closing_lines(grids, args.overrides, args.note)
    print(report("Limited data: DiffAugment and ADA (domain FID / KID against the whole split, leak rates)",
                 "\n".join(lines), args.write))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="smoke test: 1 seed, 30 steps, MNIST with 500 images, 500 eval samples; writes nothing")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=3000, help="generator steps of every run")
    parser.add_argument("--eval", dest="n_eval", type=int, default=10_000, help="generated samples for FID/KID")
    parser.add_argument("--leak", dest="n_leak", type=int, default=2000, help="samples for the leak rates")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--datasets", nargs="+", default=["mnist", "fashion-mnist"], choices=list(EXTRACTORS))
    parser.add_argument("--limits", nargs="+", type=int, default=[500, 2000])
    parser.add_argument("--divergences", nargs="+", default=["sgan-ns", "gan-qp-l1"], choices=list(DIVERGENCES))
    parser.add_argument("--augments", nargs="+", default=list(AUGMENT_LABELS), choices=list(AUGMENT_LABELS))
    parser.add_argument("--ada-kimg", type=float, default=100.0,
                        help="ADA's speed: thousands of images for p to cross [0, 1] (paper 500)")
    parser.add_argument("--data-root", type=Path, default=DATA_ROOT, help="folder holding mnist/, fashion-mnist/")
    parser.add_argument("--set", dest="overrides", action="append", default=[], help="spec override for every run")
    parser.add_argument("--note", default="", help="a sentence added under the tables")
    parser.add_argument("--write", action="store_true", help="append the result to benchmarks/results/HISTORY.md")
    parser.add_argument("--report", nargs="+", type=Path, metavar="JSON",
                        help="train nothing: pool the limited-results.json files of earlier runs (e.g. one per data "
                             "set) into one report, with --steps/--eval/--leak saying what those runs used")
    args = parser.parse_args()
    if args.report:
        pooled_report(args)
        return
    if args.quick:
        seeds, steps, n_eval, n_real, n_leak = 1, 30, 500, 2000, 200
        datasets = ["mnist"] if args.datasets == parser.get_default("datasets") else args.datasets
        limits = [500] if args.limits == parser.get_default("limits") else args.limits
    else:
        seeds, steps, n_eval, n_real, n_leak = args.seeds, args.steps, args.n_eval, FULL_TRAIN, args.n_leak
        datasets, limits = args.datasets, args.limits
    if seeds < 1 or args.first_seed < 0 or steps < 1 or min(limits) < 64:
        parser.error("--seeds and --steps must be >= 1, --first-seed >= 0, every --limits >= 64 (one batch)")
    for dataset in datasets:
        if not (args.data_root / dataset / "train-images-idx3-ubyte.gz").exists():
            parser.error(f"{args.data_root / dataset}: no {dataset} IDX files (see --data-root)")
    seed_list = list(range(args.first_seed, args.first_seed + seeds))
    keep = not args.quick
    root = str(args.data_root.resolve())
    grids_of_seed0 = keep and 0 in seed_list
    jobs = [(d, lim, v, a, s, steps, n_eval, n_real, n_leak, args.ada_kimg, root, args.overrides, grids_of_seed0)
            for d in datasets for lim in limits for v in args.divergences for a in args.augments for s in seed_list]
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        floors = {f["dataset"]: f for f in pool.map(noise_floor, [(d, n_eval, n_real, root) for d in datasets])}
        baselines = {b["dataset"]: b for b in pool.map(real_leak_baseline, [(d, n_leak, root) for d in datasets])}
        rows = list(pool.map(run_one, jobs))

    lines = result_tables(rows, floors, baselines, datasets, limits, args.divergences, args.augments, seed_list,
                          steps, n_eval, n_real, n_leak)
    lines += ["", PAPERS]
    grids = []
    if keep:
        RESULTS_DIR.mkdir(parents=True, exist_ok=True)
        (RESULTS_DIR / "limited-results.json").write_text(
            json.dumps({"rows": rows, "floors": floors, "leak_baselines": baselines}, indent=1) + "\n",
            encoding="utf-8")
        plot_p(rows, RESULTS_DIR / "limited-ada-p.png")
        lines += ["", "ADA p trajectories: `benchmarks/results/limited-ada-p.png`; every run: "
                  "`benchmarks/results/limited-results.json`."]
        if 0 in seed_list:
            grids = [f"benchmarks/results/limited-{d}-{lim}-{v}-{a}.png" for d in datasets for lim in limits
                     for v in args.divergences for a in args.augments]
    lines += closing_lines(grids, args.overrides, args.note)
    print(report("Limited data: DiffAugment and ADA (domain FID / KID against the whole split, leak rates)",
                 "\n".join(lines), args.write))


if __name__ == "__main__":
    main()
