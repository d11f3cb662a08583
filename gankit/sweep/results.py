"""A sweep's results: every finished run's final metrics (``eval.json``) and evaluation trajectory (the ``eval``
rows of ``metrics.jsonl``), summarised per variant as mean ± standard error over seeds.

Writes ``results.md`` (one row per variant), ``results.csv`` and ``results.json`` (per-seed values too) and
``results.png`` (each metric per variant with error bars, and its trajectory over steps). Only finished runs
count; the others are listed as missing, so a report of a half-done sweep says what it is.
"""

from __future__ import annotations

import csv
import json
import math
import os
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gankit.sweep.plan import Sweep
from gankit.sweep.state import Status, run_state

FILES = ("results.md", "results.csv", "results.json", "results.png")


@dataclass
class VariantResult:
    name: str
    overrides: list[str]
    values: dict[str, dict[int, float]] = field(default_factory=dict)  # metric -> seed -> final value
    trajectories: dict[str, dict[int, list[tuple[int, float]]]] = field(default_factory=dict)
    missing: list[int] = field(default_factory=list)

    def seeds_done(self) -> list[int]:
        return sorted({s for per_seed in self.values.values() for s in per_seed})


def mean_se(values: list[float]) -> tuple[float, float | None]:
    """Mean and standard error of the mean; no standard error from a single value."""
    mean = statistics.fmean(values)
    return mean, (statistics.stdev(values) / math.sqrt(len(values)) if len(values) > 1 else None)


def format_mean_se(mean: float, se: float | None) -> str:
    """``mean ± se`` rounded to the standard error's second significant digit; the bare mean from one seed."""
    if se is None or not math.isfinite(se):
        return f"{mean:.4g}"
    if se == 0:
        return f"{mean:.4g} ± 0"
    decimals = max(0, 1 - math.floor(math.log10(se)))
    return f"{mean:.{decimals}f} ± {se:.{decimals}f}"


def final_metrics(run_dir: Path) -> dict[str, float]:
    """The numbers of ``eval.json`` (``step`` left out); a nested ``metrics`` table is read the same way."""
    data = json.loads((run_dir / "eval.json").read_text(encoding="utf-8"))
    table = data.get("metrics", data) if isinstance(data, dict) else {}
    return {k: float(v) for k, v in table.items()
            if k != "step" and isinstance(v, int | float) and not isinstance(v, bool)}


def eval_rows(run_dir: Path) -> dict[str, list[tuple[int, float]]]:
    """Each metric's ``(step, value)`` from the ``eval`` rows of ``metrics.jsonl`` (damaged lines skipped)."""
    out: dict[str, list[tuple[int, float]]] = {}
    path = run_dir / "metrics.jsonl"
    if not path.is_file():
        return out
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        if not isinstance(row, dict) or row.get("kind") != "eval" or not isinstance(row.get("step"), int):
            continue
        for key, value in row.items():
            if key not in ("step", "kind", "time") and isinstance(value, int | float) and not isinstance(value, bool):
                out.setdefault(key, []).append((row["step"], float(value)))
    return out


def collect(sweep: Sweep) -> list[VariantResult]:
    results = {v.name: VariantResult(v.name, [o for o in v.overrides]) for v in sweep.variants}
    for plan in sweep.runs:
        result = results[plan.variant]
        if run_state(plan).status is not Status.finished:
            result.missing.append(plan.seed)
            continue
        try:
            metrics = final_metrics(plan.out)
        except (OSError, ValueError):
            result.missing.append(plan.seed)
            continue
        for key, value in metrics.items():
            result.values.setdefault(key, {})[plan.seed] = value
        for key, points in eval_rows(plan.out).items():
            result.trajectories.setdefault(key, {})[plan.seed] = points
    return list(results.values())


def metric_names(results: list[VariantResult]) -> list[str]:
    names: list[str] = []
    for r in results:
        names += [k for k in r.values if k not in names]
    return names


# --------------------------------------------------------------------------------------------- writers
def write_results(sweep: Sweep, results: list[VariantResult]) -> list[Path]:
    """Write every results file into the sweep's folder; returns their paths."""
    out = sweep.out_dir
    out.mkdir(parents=True, exist_ok=True)
    metrics = metric_names(results)
    _atomic(out / "results.json", json.dumps(as_json(sweep, results, metrics), indent=2) + "\n")
    _atomic(out / "results.md", markdown(sweep, results, metrics))
    _write_csv(out / "results.csv", results, metrics)
    plot(out / "results.png", results, metrics)
    return [out / name for name in FILES]


def _atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def as_json(sweep: Sweep, results: list[VariantResult], metrics: list[str]) -> dict[str, Any]:
    variants = []
    for r in results:
        table = {}
        for m in metrics:
            per_seed = r.values.get(m, {})
            if per_seed:
                mean, se = mean_se(list(per_seed.values()))
                table[m] = {"mean": mean, "se": se, "n": len(per_seed),
                            "per_seed": {str(s): v for s, v in sorted(per_seed.items())}}
        variants.append({"name": r.name, "overrides": [o for o in r.overrides if not o.startswith("run.seed=")],
                         "seeds": r.seeds_done(), "missing_seeds": sorted(r.missing), "metrics": table})
    return {"sweep": str(sweep.path), "spec": sweep.config.spec, "seeds": sweep.seeds, "metrics": metrics,
            "variants": variants}


def markdown(sweep: Sweep, results: list[VariantResult], metrics: list[str]) -> str:
    lines = [f"# Sweep `{sweep.path.name}`", "",
             f"Base spec `{sweep.config.spec}`, seeds {', '.join(map(str, sweep.seeds))}; "
             "mean ± standard error over seeds of each final metric (`eval.json`).", "",
             "| variant | seeds | " + " | ".join(metrics) + " |",
             "| --- | --- |" + " --- |" * len(metrics)]
    for r in results:
        cells = []
        for m in metrics:
            per_seed = list(r.values.get(m, {}).values())
            cells.append(format_mean_se(*mean_se(per_seed)) if per_seed else "—")
        lines.append(f"| {r.name} | {len(r.seeds_done())} | " + " | ".join(cells) + " |")
    lines += ["", "Variants:"]
    for r in results:
        sets = ", ".join(f"`{o}`" for o in r.overrides) or "the base spec"
        note = f" (missing seeds: {', '.join(map(str, sorted(r.missing)))})" if r.missing else ""
        lines.append(f"- **{r.name}**: {sets}{note}")
    return "\n".join(lines) + "\n"


def _write_csv(path: Path, results: list[VariantResult], metrics: list[str]) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with tmp.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["variant", "seed", *metrics])
        for r in results:
            for seed in r.seeds_done():
                writer.writerow([r.name, seed, *(_num(r.values.get(m, {}).get(seed)) for m in metrics)])
            stats = [mean_se(list(r.values[m].values())) if r.values.get(m) else (None, None) for m in metrics]
            writer.writerow([r.name, "mean", *(_num(s[0]) for s in stats)])
            writer.writerow([r.name, "se", *(_num(s[1]) for s in stats)])
    os.replace(tmp, path)


def _num(value: float | None) -> str:
    return "" if value is None else repr(value)


def plot(path: Path, results: list[VariantResult], metrics: list[str]) -> None:
    """One row per metric: final value per variant (mean ± SE, seeds as dots), and its trajectory over steps."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = metrics[:8] or ["(no finished run)"]
    fig, axes = plt.subplots(len(shown), 2, figsize=(11, 3.2 * len(shown)), squeeze=False)
    names = [r.name for r in results]
    for row, metric in enumerate(shown):
        bars, lines = axes[row]
        for x, r in enumerate(results):
            values = list(r.values.get(metric, {}).values())
            if not values:
                continue
            mean, se = mean_se(values)
            bars.errorbar([x], [mean], yerr=[se or 0.0], fmt="o", capsize=5, color=f"C{x % 10}")
            bars.scatter([x + 0.12] * len(values), values, s=10, color=f"C{x % 10}", alpha=0.5)
            _trajectory(lines, r.trajectories.get(metric, {}), r.name, f"C{x % 10}")
        bars.set_xticks(range(len(names)), names, rotation=20, ha="right", fontsize=8)
        bars.set_xlim(-0.6, len(names) - 0.4)
        bars.set_ylabel(metric, fontsize=8)
        bars.set_title(f"{metric}: final, mean ± SE", fontsize=9)
        lines.set_xlabel("step", fontsize=8)
        lines.set_title(f"{metric}: over steps (mean of seeds)", fontsize=9)
        if lines.has_data():
            lines.legend(fontsize=7)
    fig.tight_layout()
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.png")
    fig.savefig(tmp, dpi=90)
    plt.close(fig)
    os.replace(tmp, path)


def _trajectory(ax: Any, per_seed: dict[int, list[tuple[int, float]]], label: str, color: str) -> None:
    by_step: dict[int, list[float]] = {}
    for points in per_seed.values():
        for step, value in points:
            by_step.setdefault(step, []).append(value)
    if not by_step:
        return
    steps = sorted(by_step)
    stats = [mean_se(by_step[s]) for s in steps]
    means = [m for m, _ in stats]
    ses = [se or 0.0 for _, se in stats]
    ax.plot(steps, means, marker="o", ms=3, label=label, color=color)
    ax.fill_between(steps, [m - e for m, e in zip(means, ses, strict=True)],
                    [m + e for m, e in zip(means, ses, strict=True)], alpha=0.2, color=color)
