"""``gankit sample``: write generated samples from a checkpoint (the newest one of a run folder)."""

from __future__ import annotations

from pathlib import Path

import typer

from gankit.cli import app


def default_out(source: Path) -> Path:
    """``<run>/generated`` for a run folder or one of its checkpoints, else ``generated`` next to the file."""
    if source.is_dir():
        return (source.parent if source.name == "checkpoints" else source) / "generated"
    parent = source.parent
    return (parent.parent if parent.name == "checkpoints" else parent) / "generated"


@app.command()
def sample(
    source: Path = typer.Argument(..., help="A run folder (its newest checkpoint is used) or a checkpoint file."),
    num: int = typer.Option(64, "-n", "--num", min=1, help="How many samples."),
    out: Path = typer.Option(None, "--out", "-o", help="Output folder (default: <run folder>/generated)."),
    seed: int = typer.Option(0, "--seed", help="Seed for the latents."),
    device: str = typer.Option("cpu", "--device", help="auto, cpu, cuda, cuda:N or mps."),
    ema: bool = typer.Option(True, "--ema/--no-ema", help="Use the EMA generator when the run kept one."),
) -> None:
    """Generate samples: images as PNGs plus a grid; 2-D points as a scatter plot plus points.csv."""
    from gankit.engine.lock import lock_run_of
    from gankit.engine.sampling import generate_from_checkpoint, write_generated

    folder = out if out is not None else default_out(source)
    with lock_run_of(folder):  # a run folder has one writer: refused while training writes into it
        result = generate_from_checkpoint(source, num, seed=seed, device=device, use_ema=ema)
        written = write_generated(result, folder)
    weights = "EMA generator" if result.ema else "generator"
    typer.echo(f"wrote {len(result.samples)} samples ({len(written)} files) to {folder} "
               f"from {result.checkpoint} (step {result.step}, {weights})")
