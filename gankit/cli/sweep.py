"""``gankit sweep``: train a base spec under several variants and seeds, then tabulate and plot the results.

Validation of the sweep file and of every expanded spec, ``--dry-run`` and ``--help`` never import torch: the
runs are ``gankit train`` subprocesses.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

import typer

from gankit.cli import app


class Launcher(StrEnum):
    local = "local"
    slurm = "slurm"


@app.command()
def sweep(
    sweep_file: Path = typer.Argument(..., help="The sweep file (TOML): base spec, seeds, variants."),
    jobs: int = typer.Option(1, "--jobs", "-j", min=1, help="Runs at once (locally the cores are split)."),
    launcher: Launcher = typer.Option(Launcher.local, "--launcher", help="local, or slurm (a job array "
                                      "through submitit: pip install 'gankit\\[slurm]')."),
    overrides: list[str] = typer.Option([], "--set", help="Override for every run: --set run.steps=500."),
    threads: int = typer.Option(None, "--threads", min=1, help="Threads per local run (default: cores / jobs)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="List the runs and what would be done; train nothing."),
    report: bool = typer.Option(False, "--report", help="Rebuild results.{md,csv,json,png} without training."),
) -> None:
    """Compare settings over seeds: finished runs are skipped, interrupted ones resumed."""
    from rich.console import Console

    from gankit.sweep.plan import load_sweep

    plan = load_sweep(sweep_file, overrides)  # every expanded spec validated before anything runs
    console = Console(highlight=False)
    if dry_run:
        from gankit.sweep.runner import dry_run_lines

        for line in dry_run_lines(plan):
            typer.echo(line)
        typer.echo(f"{len(plan.runs)} runs ({len(plan.variants)} variants × {len(plan.seeds)} seeds) "
                   f"in {plan.out_dir}")
        return
    if report:
        from gankit.sweep.results import collect, write_results

        files = write_results(plan, collect(plan))
        typer.echo(files[0].read_text(encoding="utf-8").rstrip())
        typer.echo("results: " + ", ".join(str(f) for f in files))
        return

    from gankit.sweep.runner import run_sweep

    summary = run_sweep(plan, jobs, launcher.value, console, threads=threads)
    trained = len(summary.outcomes) - len(summary.failed)
    typer.echo(summary.result_files[0].read_text(encoding="utf-8").rstrip())
    typer.echo(f"done: {trained} trained, {len(summary.skipped)} already finished, {len(summary.failed)} failed; "
               "results: " + ", ".join(str(f) for f in summary.result_files))
    if summary.failed:
        raise typer.Exit(1)


def validate_sweep(path: Path, overrides: list[str]) -> None:
    """What ``gankit validate`` does with a sweep file: expand it and validate every spec (raises SpecError)."""
    from gankit.sweep.plan import load_sweep

    load_sweep(path, overrides)
