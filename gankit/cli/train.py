"""``gankit train``: validate a spec, then train it here, or in N processes through torchrun."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import typer

from gankit.cli import app


def output_dir(spec_path: Path, configured: str | None, override: Path | None) -> Path:
    if override is not None:
        return override
    if configured:
        return Path(configured)
    return Path("runs") / spec_path.stem


def _torchrun_command(argv: list[str], nproc: int, max_restarts: int) -> list[str]:
    """The same ``gankit train`` call, minus ``--nproc``, under ``torch.distributed.run``."""
    rest: list[str] = []
    skip = False
    for i, arg in enumerate(argv):
        if skip:
            skip = False
            continue
        if arg in ("--nproc", "--max-restarts"):
            skip = i + 1 < len(argv)
            continue
        if arg.startswith(("--nproc=", "--max-restarts=")):
            continue
        rest.append(arg)
    return [
        sys.executable, "-m", "torch.distributed.run", "--standalone",
        f"--nproc-per-node={nproc}", f"--max-restarts={max_restarts}",
        "-m", "gankit", *rest,
    ]


@app.command()
def train(
    spec: Path = typer.Argument(..., help="The spec (TOML) to train."),
    out: Path = typer.Option(None, "--out", "-o", help="Output folder (default: run.out_dir or runs/<spec stem>)."),
    overrides: list[str] = typer.Option([], "--set", help="Override a value: --set run.steps=500 (repeatable)."),
    resume: str = typer.Option(
        None, "--resume", is_flag=False, flag_value="latest",
        help="Continue from the newest checkpoint in the output folder, or from the given checkpoint/run folder.",
    ),
    nproc: int = typer.Option(1, "--nproc", min=1, help="Processes on this machine (launched through torchrun)."),
    max_restarts: int = typer.Option(0, "--max-restarts", min=0, help="Restart failed workers this often (resumes)."),
    allow_imports: bool = typer.Option(False, "--allow-imports", help="Allow user networks named by import path."),
    progress: bool = typer.Option(None, "--progress/--no-progress", help="Progress bar (default: on a terminal)."),
) -> None:
    """Train a GAN from a spec, writing checkpoints, samples, metrics and plots."""
    from gankit.spec import load_spec

    parsed = load_spec(spec, overrides)  # fail fast, before any process or torch start
    if nproc > 1 and "WORLD_SIZE" not in os.environ:
        cmd = _torchrun_command(sys.argv[1:], nproc, max_restarts)
        raise typer.Exit(subprocess.call(cmd))

    from gankit.engine.trainer import Trainer, TrainOptions

    out_dir = output_dir(spec, parsed.run.out_dir, out)
    restarted = int(os.environ.get("TORCHELASTIC_RESTART_COUNT", "0")) > 0
    resume_from: Path | bool | None = None
    if resume == "latest" or (restarted and resume is None):
        resume_from = True
    elif resume is not None:
        resume_from = Path(resume)
    trainer = Trainer(parsed, TrainOptions(out_dir=out_dir, resume=resume_from, progress=progress,
                                           allow_imports=allow_imports))
    result = trainer.fit()
    if trainer.is_main:
        summary = " ".join(f"{k}={v:.4g}" for k, v in result.metrics.items())
        typer.echo(f"done: {result.step} steps; artifacts in {result.out_dir}" + (f"; {summary}" if summary else ""))
    from gankit.engine.distributed import shutdown

    shutdown()
