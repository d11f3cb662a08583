"""Shared helpers for the benchmark scripts: machine description, medians, result sections, and running a
benchmark's sweep file (``gankit sweep``) with the scripts' --steps/--seeds/--set options."""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import math
import os
import platform
import shlex
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
#: the dated log every ``--write`` appends to; BENCHMARKS.md shows the latest result of each benchmark
RESULTS = ROOT / "benchmarks" / "results" / "HISTORY.md"


def machine() -> str:
    """One line: CPU model and count, memory, and the accelerator if any (torch imported lazily)."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        meminfo = Path("/proc/meminfo").read_text().splitlines()
        mem_kb = int(next(x for x in meminfo if x.startswith("MemTotal")).split()[1])
        mem = f"{mem_kb / 2**20:.0f} GiB"
    except (OSError, StopIteration, ValueError):
        mem = "? GiB"
    gpu = "no GPU"
    if "torch" in sys.modules:
        torch = sys.modules["torch"]
        if torch.cuda.is_available():
            gpu = torch.cuda.get_device_name(0)
        return f"{cpu}, {os.cpu_count()} cores, {mem}, {gpu}, torch {torch.__version__}, " \
            f"Python {platform.python_version()}"
    return f"{cpu}, {os.cpu_count()} cores, {mem}, Python {platform.python_version()}"


def command_line() -> str:
    rel = Path(sys.argv[0]).resolve()
    with contextlib.suppress(ValueError):
        rel = rel.relative_to(ROOT)
    return " ".join(["python", shlex.quote(str(rel)), *map(shlex.quote, sys.argv[1:])])


def median(values: list[float]) -> float:
    return statistics.median(values)


def stats(values: list[float]) -> tuple[float, float | None]:
    """Mean and standard error over seeds; no standard error from a single seed."""
    se = statistics.stdev(values) / math.sqrt(len(values)) if len(values) > 1 else None
    return statistics.fmean(values), se


def mean_se(values: list[float], digits: int = 2) -> str:
    """``mean ± standard error``; the bare mean from a single seed (no fake ``± 0``)."""
    mean, se = stats(values)
    return f"{mean:.{digits}f}" if se is None else f"{mean:.{digits}f} ± {se:.{digits}f}"


def seed_range(seeds: list[int]) -> str:
    """``0–4`` for a run of seeds, ``3`` for one."""
    return f"{seeds[0]}–{seeds[-1]}" if len(seeds) > 1 else str(seeds[0])


def git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                              text=True, timeout=5).stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def closing_lines(grids: list[str], overrides: list[str], note: str | None) -> list[str]:
    """The end of a training benchmark's result: where seed 0's sample grids went, the spec overrides every
    run used, and the user's note (each block only when there is something to say)."""
    lines: list[str] = []
    if grids:
        lines += ["", "Sample grids of seed 0: " + ", ".join(f"`{g}`" for g in grids) + "."]
    if overrides:
        lines += ["", "Overrides: " + ", ".join(f"`{o}`" for o in overrides)]
    if note:
        lines += ["", note]
    return lines


def report(title: str, body: str, write: bool) -> str:
    """Format a result section; append it to benchmarks/results/HISTORY.md when ``write`` (BENCHMARKS.md then
    takes it as the benchmark's latest result by hand: it is a report, not a log)."""
    when = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    text = (
        f"\n### {title}\n\n"
        f"- command: `{command_line()}`\n- date: {when}, commit {git_commit()}\n- machine: {machine()}\n\n"
        f"{body.strip()}\n"
    )
    if write:
        with RESULTS.open("a", encoding="utf-8") as fh:
            fh.write(text)
    return text


# ------------------------------------------------------------------------------ training benchmarks on sweeps
def steps_overrides(steps: int) -> list[str]:
    """The run settings that follow the step count in every training benchmark: ten log rows, one sample grid
    and one checkpoint at the end (what the sweep files' base specs hold for their default step count)."""
    return [f"run.steps={steps}", f"run.log_every={max(1, steps // 10)}", f"run.sample_every={steps}",
            f"run.checkpoint_every={steps}"]


def sweep_out_dir(stem: str, steps: int, overrides: list[str]) -> Path:
    """``runs/benchmarks/<sweep>/steps-<N>[-<hash of --set>]``: a rerun with the same settings reuses (and
    completes) the same runs; other settings get their own folder instead of being refused."""
    label = f"steps-{steps}"
    if overrides:
        label += "-" + hashlib.sha256("\n".join(overrides).encode()).hexdigest()[:8]
    return ROOT / "runs" / "benchmarks" / stem / label


def run_sweep_file(sweep_file: Path, overrides: list[str], seeds: list[int], variants: list[str] | None,
                   out_dir: Path, jobs: int) -> tuple[Any, list[Any]]:
    """Train a benchmark's sweep (finished runs are reused, interrupted ones resumed) with one thread per run, and
    return the sweep and its per-variant results; exits with the sweep's one-line errors when it cannot."""
    from rich.console import Console

    from gankit.errors import GankitError
    from gankit.sweep.plan import load_sweep
    from gankit.sweep.results import collect
    from gankit.sweep.runner import run_sweep

    os.environ.setdefault("GANKIT_CACHE", str(ROOT / ".gankit-cache"))  # the runs share one statistics cache
    try:
        sweep = load_sweep(sweep_file, overrides, seeds=seeds, only=variants, out_dir=out_dir)
        summary = run_sweep(sweep, jobs, "local", Console(stderr=True), threads=1)
    except GankitError as exc:
        raise SystemExit(f"error: {exc}") from None
    if summary.failed:
        raise SystemExit(f"error: {len(summary.failed)} run(s) failed: " + "; ".join(
            f"{o.key}: {o.error}" for o in summary.failed))
    return sweep, collect(sweep)


def run_minutes(run_dir: Path) -> float:
    """Wall minutes of a run's last attempt, from its files (the manifest is written at the start, eval.json at
    the end), so that reused runs report their time too."""
    return ((run_dir / "eval.json").stat().st_mtime - (run_dir / "manifest.json").stat().st_mtime) / 60


def final_sample(run_dir: Path, steps: int) -> Path:
    return run_dir / "samples" / f"step-{steps:09d}.png"
