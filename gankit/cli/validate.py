"""``gankit validate``: check specs without training (exit 0 all valid, 1 any invalid, 2 usage error)."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path

import typer

from gankit.cli import app


class Format(StrEnum):
    text = "text"
    json = "json"
    github = "github"


def expand_specs(paths: list[Path]) -> list[Path]:
    """Files as given; folders become their ``*.toml`` files (sorted). Missing paths are a usage error."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = sorted(path.glob("*.toml"))
            if not found:
                typer.secho(f"error: {path}: folder holds no *.toml spec", fg="red", err=True)
                raise typer.Exit(2)
            files.extend(found)
        elif path.exists():
            files.append(path)
        else:
            typer.secho(f"error: {path}: no such file or folder", fg="red", err=True)
            raise typer.Exit(2)
    return files


def _escape(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


@app.command()
def validate(
    specs: list[Path] = typer.Argument(..., help="Spec files or folders of *.toml specs."),
    overrides: list[str] = typer.Option([], "--set", help="Override a value: --set run.steps=500 (repeatable)."),
    fmt: Format = typer.Option(Format.text, "--format", "-f", help="text, json, or github annotations."),
) -> None:
    """Validate specs: every problem of every file, each as 'path: message'."""
    from gankit.cli.sweep import validate_sweep
    from gankit.errors import SpecError
    from gankit.spec import load_spec
    from gankit.sweep.plan import is_sweep_file

    results = []
    for file in expand_specs(specs):
        try:
            if is_sweep_file(file):  # a sweep file: its every expanded spec (gankit.cli.sweep)
                validate_sweep(file, overrides)
            else:
                load_spec(file, overrides)
            results.append({"file": str(file), "valid": True, "errors": []})
        except SpecError as exc:
            errors = [{"path": p, "message": m} for p, m in exc.problems]
            results.append({"file": str(file), "valid": False, "errors": errors})
    invalid = [r for r in results if not r["valid"]]
    if fmt is Format.json:
        typer.echo(json.dumps(results, indent=2))
    elif fmt is Format.github:
        for r in invalid:
            for e in r["errors"]:
                where = f"{e['path']}: " if e["path"] else ""
                typer.echo(f"::error file={r['file']},title=gankit validate::{_escape(where + e['message'])}")
        typer.echo(f"{len(results) - len(invalid)} valid, {len(invalid)} invalid")
    else:
        for r in results:
            if r["valid"]:
                typer.secho(f"ok      {r['file']}", fg="green")
            else:
                for e in r["errors"]:
                    where = f"{e['path']}: " if e["path"] else ""
                    typer.secho(f"{r['file']}: {where}{e['message']}", fg="red", err=True)
        typer.echo(f"{len(results) - len(invalid)} valid, {len(invalid)} invalid")
    raise typer.Exit(1 if invalid else 0)
