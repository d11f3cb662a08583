"""``gankit validate``: check specs without training (exit 0 all valid, 1 any invalid, 2 usage error)."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Any

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


def shadowing_notes(spec: Any) -> list[tuple[str, str]]:
    """``(path, note)`` for each bare name in ``spec`` that an installed third-party package also registers:
    the spec still means the built-in, but its author may have meant the other one."""
    notes = []
    for path, table in spec.components():
        if ":" in table.name:
            continue
        for other in spec.registry.hidden_by(table.component):
            notes.append((f"{path}.name", f"'{table.name}' is the built-in {other.kind}; {other.dist} also "
                                          f"registers '{other.name}' (write '{other.qualified_name}' for it)"))
    return notes


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
                warnings = []
            else:
                spec = load_spec(file, overrides)
                warnings = [{"path": p, "message": m} for p, m in shadowing_notes(spec)]
            results.append({"file": str(file), "valid": True, "errors": [], "warnings": warnings})
        except SpecError as exc:
            errors = [{"path": p, "message": m} for p, m in exc.problems]
            results.append({"file": str(file), "valid": False, "errors": errors, "warnings": []})
    invalid = [r for r in results if not r["valid"]]
    if fmt is Format.json:
        typer.echo(json.dumps(results, indent=2))
    elif fmt is Format.github:
        for r in results:
            for level, items in (("error", r["errors"]), ("warning", r["warnings"])):
                for e in items:
                    where = f"{e['path']}: " if e["path"] else ""
                    typer.echo(f"::{level} file={r['file']},title=gankit validate::{_escape(where + e['message'])}")
        typer.echo(f"{len(results) - len(invalid)} valid, {len(invalid)} invalid")
    else:
        for r in results:
            if r["valid"]:
                typer.secho(f"ok      {r['file']}", fg="green")
            for e in r["errors"]:
                where = f"{e['path']}: " if e["path"] else ""
                typer.secho(f"{r['file']}: {where}{e['message']}", fg="red", err=True)
            for e in r["warnings"]:
                typer.secho(f"note: {r['file']}: {e['path']}: {e['message']}", fg="yellow", err=True)
        typer.echo(f"{len(results) - len(invalid)} valid, {len(invalid)} invalid")
    raise typer.Exit(1 if invalid else 0)
