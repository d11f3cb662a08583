"""``gankit eval``: metrics of a checkpoint's generator, or of a folder of images against another.

    gankit eval RUN_DIR|CHECKPOINT [--metric fid --metric kid] [-n 10000]
    gankit eval --real DIR --fake DIR [--metric fid] [--extractor inception-v3]

Results are printed as a table and written as JSON (``--json PATH``; ``--json -`` prints the JSON instead of
the table). Default JSON path: ``<run>/eval-step-<N>.json`` for a checkpoint, ``eval-<fake folder>.json`` in
the current folder for two folders.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from gankit.cli import app
from gankit.errors import GankitError


def default_json(result_about: dict[str, Any]) -> Path:
    if "checkpoint" in result_about:
        ckpt = Path(result_about["checkpoint"])
        run = ckpt.parent.parent if ckpt.parent.name == "checkpoints" else ckpt.parent
        return run / f"eval-step-{int(result_about['step']):09d}.json"
    return Path(f"eval-{Path(result_about['fake']).resolve().name}.json")


def default_json_of(source: Path | None) -> Path | None:
    """Where the JSON of ``source`` goes by default, known before evaluating (for the folder lock): a file in
    the run folder of a checkpoint; ``None`` for two image folders (the current folder)."""
    if source is None:
        return None
    if source.is_file():
        run = source.parent.parent if source.parent.name == "checkpoints" else source.parent
    else:
        run = source.parent if source.name == "checkpoints" else source
    return run / "eval-step.json"


def print_table(metrics: dict[str, float], about: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    if "checkpoint" in about:
        title = f"step {about['step']}, {'EMA ' if about['ema'] else ''}generator"
        caption = about["checkpoint"]
    else:
        title = f"{about['n_fake']} generated vs {about['n_real']} real images"
        caption = f"{about['fake']} vs {about['real']}"
    table = Table(title=title, caption=caption)
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in metrics.items():
        table.add_row(key, f"{value:.6g}")
    Console().print(table)


@app.command("eval")
def eval_command(
    source: Path = typer.Argument(None, help="A run folder (its newest checkpoint) or a checkpoint file."),
    real: Path = typer.Option(None, "--real", help="Folder of real images (with --fake, instead of SOURCE)."),
    fake: Path = typer.Option(None, "--fake", help="Folder of generated images (with --real)."),
    metric: list[str] = typer.Option(
        [], "--metric", "-m", help="A metric to compute (repeatable). Default: the spec's metrics; for two "
        "folders fid, kid, is, precision-recall, density-coverage.",
    ),
    num: int = typer.Option(None, "-n", "--num", min=2, help="Generated samples per metric (overrides n_samples)."),
    extractor: str = typer.Option(
        None, "--extractor", help="Feature extractor for every feature metric (default: each metric's; 'auto' "
        "means inception-v3 for image folders: use mnist-classifier for 28×28 digits).",
    ),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda, cuda:N or mps."),
    seed: int = typer.Option(0, "--seed", help="Seed for the generated samples."),
    ema: bool = typer.Option(True, "--ema/--no-ema", help="Use the EMA generator when the run kept one."),
    json_path: str = typer.Option(None, "--json", help="Where to write the JSON results ('-': print them)."),
    cache_dir: Path = typer.Option(None, "--cache-dir", help="Reference-statistics cache (default: "
                                   "$GANKIT_CACHE or .gankit-cache)."),
    allow_imports: bool = typer.Option(
        False, "--allow-imports", help="With --real/--fake: allow extractors named by import path (a checkpoint's "
        "own spec never imports code).",
    ),
) -> None:
    """Evaluate a checkpoint, or compare two folders of images, with FID/KID/IS/precision-recall/..."""
    from gankit.engine.lock import lock_run_of
    from gankit.evaluate import evaluate_checkpoint, evaluate_folders

    if source is not None and (real is not None or fake is not None):
        raise GankitError("give either a run folder/checkpoint or --real and --fake, not both")
    if source is None and (real is None or fake is None):
        raise GankitError("nothing to evaluate: give a run folder or checkpoint, or both --real DIR and --fake DIR")
    # a run folder has one writer: evaluating into one that is training is refused before any work
    target = None if json_path == "-" else Path(json_path) if json_path else default_json_of(source)
    with lock_run_of(target):
        if source is not None:
            result = evaluate_checkpoint(source, metric, n=num, extractor=extractor, device=device, seed=seed,
                                         use_ema=ema, allow_imports=allow_imports, cache_dir=cache_dir)
        else:
            result = evaluate_folders(real, fake, metric, n=num, extractor=extractor, device=device,
                                      allow_imports=allow_imports, cache_dir=cache_dir)
        document = {**result.about, "metrics": result.metrics}
        if json_path == "-":
            typer.echo(json.dumps(document, indent=2))
            return
        print_table(result.metrics, result.about)
        out = Path(json_path) if json_path else default_json(result.about)
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
        except OSError as exc:
            raise GankitError(f"--json: cannot write {out}: {exc.strerror or exc}") from None
    typer.echo(f"wrote {out}")
