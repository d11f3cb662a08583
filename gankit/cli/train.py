"""``gankit train``: validate a spec, then train it here, or in N processes through torchrun.

``--resume`` takes an optional value (``--resume`` alone: the newest checkpoint in the output folder;
``--resume PATH``: that checkpoint or run folder). Typer has no optional-value options, so the command's
argument list is rewritten before parsing: a ``--resume`` followed by nothing, by another option or by a
``.toml`` spec becomes ``--resume=<latest>``.

The same command runs under an external torchrun or a Slurm job step: the engine reads their environment
variables. ``--nproc N`` runs this very command (without ``--nproc``) in N processes on this machine through
torchrun's agent (:mod:`gankit.engine.launch`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import typer
from typer.core import TyperCommand

from gankit.cli import app, debug_enabled
from gankit.errors import GankitError, Interrupted

LATEST = "<latest>"


def optional_resume_value(args: list[str]) -> list[str]:
    """``--resume`` without a value (end of the line, before an option, or before a ``.toml`` spec) becomes
    ``--resume=<latest>``; ``--resume PATH`` and ``--resume=PATH`` are kept."""
    out: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            out.extend(args[i:])
            break
        if arg == "--resume":
            nxt = args[i + 1] if i + 1 < len(args) else None
            if nxt is None or nxt.startswith("-") or nxt.endswith(".toml"):
                out.append(f"--resume={LATEST}")
            else:
                out += [arg, nxt]
                i += 1
        else:
            out.append(arg)
        i += 1
    return out


class TrainCommand(TyperCommand):
    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        return super().parse_args(ctx, optional_resume_value(list(args)))


def output_dir(spec_path: Path, configured: str | None, override: Path | None) -> Path:
    if override is not None:
        return override
    if configured:
        return Path(configured)
    return Path("runs") / spec_path.stem


def worker_args(
    spec: Path, out: Path | None, overrides: list[str], resume: str | None, allow_imports: bool,
    progress: bool | None, rewind: bool = False,
) -> list[str]:
    """The ``gankit`` arguments each torchrun worker gets: this command without ``--nproc``."""
    args = ["--debug"] if debug_enabled() else []
    args += ["train", str(spec)]
    if out is not None:
        args += ["--out", str(out)]
    for item in overrides:
        args += ["--set", item]
    if allow_imports:
        args.append("--allow-imports")
    if progress is not None:
        args.append("--progress" if progress else "--no-progress")
    if resume is not None:
        args.append("--resume" if resume == LATEST else f"--resume={resume}")
    if rewind:
        args.append("--rewind")
    return args


@app.command(cls=TrainCommand)
def train(
    spec: Path = typer.Argument(..., help="The spec (TOML) to train."),
    out: Path = typer.Option(None, "--out", "-o", help="Output folder (default: run.out_dir or runs/<spec stem>)."),
    overrides: list[str] = typer.Option([], "--set", help="Override a value: --set run.steps=500 (repeatable)."),
    resume: str = typer.Option(
        None, "--resume", metavar="[PATH]",
        help="Continue a run: alone, from the newest checkpoint in the output folder; with PATH, from that "
        "checkpoint or run folder.",
    ),
    rewind: bool = typer.Option(
        False, "--rewind", help="With --resume from an earlier checkpoint of the same run: move the later "
        "checkpoints, metrics rows, samples and results into superseded/<time>-from-step-N/ and continue from it.",
    ),
    nproc: int = typer.Option(1, "--nproc", min=1, help="Processes on this machine (launched through torchrun)."),
    max_restarts: int = typer.Option(
        0, "--max-restarts", min=0, help="With --nproc: restart failed workers this often (they resume)."
    ),
    allow_imports: bool = typer.Option(
        False, "--allow-imports", help="Allow the `import` feature extractor to import a module the spec names."
    ),
    progress: bool = typer.Option(None, "--progress/--no-progress", help="Progress bar (default: on a terminal)."),
) -> None:
    """Train a GAN from a spec, writing checkpoints, samples, metrics and plots."""
    from gankit.spec import load_spec

    parsed = load_spec(spec, overrides)  # fail fast, before any process or torch start
    if rewind and resume is None:
        raise GankitError("--rewind: only with --resume PATH (the earlier checkpoint to continue from)")
    if nproc > 1 and "WORLD_SIZE" not in os.environ:
        if int(os.environ.get("SLURM_STEP_NUM_TASKS", "1") or 1) > 1:
            raise GankitError("--nproc: this is already one of several Slurm tasks; use either srun's tasks or "
                              "--nproc, not both")
        args = worker_args(spec, out, overrides, resume, allow_imports, progress, rewind)
        from gankit.engine.launch import run_workers

        raise typer.Exit(run_workers(args, nproc, max_restarts))

    rank = int(os.environ.get("RANK", os.environ.get("SLURM_PROCID", "0")) or 0)
    try:
        _train_here(spec, parsed, out, resume, allow_imports, progress, rewind)
    except Interrupted as exc:
        if rank != 0:  # rank 0 says it once for all
            raise typer.Exit(exc.exit_code) from None
        raise
    except GankitError as exc:
        if rank != 0:  # every rank may fail the same way: say which one is speaking
            raise GankitError(f"rank {rank}: {exc}") from None
        raise


def _train_here(spec: Path, parsed: Any, out: Path | None, resume: str | None, allow_imports: bool,
                progress: bool | None, rewind: bool = False) -> None:
    from gankit.engine.checkpoint import list_checkpoints
    from gankit.engine.distributed import shutdown
    from gankit.engine.trainer import Trainer, TrainOptions

    out_dir = output_dir(spec, parsed.run.out_dir, out)
    resume_from: Path | bool | None = None
    if resume == LATEST:
        resume_from = True
    elif resume is not None:
        resume_from = Path(resume)
    # a worker restarted by torchrun continues from the newest checkpoint this run wrote
    if int(os.environ.get("TORCHELASTIC_RESTART_COUNT", "0") or 0) > 0 and (
        resume_from is None or list_checkpoints(out_dir / "checkpoints")
    ):
        resume_from = True
    try:
        trainer = Trainer(parsed, TrainOptions(out_dir=out_dir, resume=resume_from, rewind=rewind,
                                               progress=progress, allow_imports=allow_imports))
        result = trainer.fit()
        if trainer.is_main:
            summary = " ".join(f"{k}={v:.4g}" for k, v in result.metrics.items())
            typer.echo(f"done: {result.step} steps; artifacts in {result.out_dir}"
                       + (f"; {summary}" if summary else ""))
    finally:
        shutdown()
