"""``gankit list-plugins``: what is installed, where it came from, and whether it loaded."""

from __future__ import annotations

import json

import typer

from gankit.cli import app

KINDS = ("data", "generator", "critic", "divergence", "metric", "feature-extractor", "augment")


@app.command("list-plugins")
def list_plugins(
    kind: str = typer.Option(None, "--kind", "-k", help=f"Only this kind: {', '.join(KINDS)}."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """List installed components and the status of every plugin."""
    from gankit.errors import did_you_mean
    from gankit.plugins import get_registry

    if kind is not None and kind not in KINDS:
        typer.secho(f"error: --kind: unknown kind '{kind}'{did_you_mean(kind, KINDS)}", fg="red", err=True)
        raise typer.Exit(2)
    registry = get_registry()
    rows = []
    for k in KINDS if kind is None else (kind,):
        for c in sorted(registry.of_kind(k), key=lambda c: (c.name, c.dist)):
            rows.append({"kind": k, "name": c.name, "distribution": c.dist, "version": c.version,
                         "summary": c.summary, "status": "ok"})
    for p in registry.plugins:
        if p.status != "ok" and kind is None:
            rows.append({"kind": "-", "name": p.entry_point, "distribution": p.dist, "version": p.version,
                         "summary": "", "status": p.status})
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title="gankit plugins", show_lines=False)
    for col in ("kind", "name", "distribution", "version", "summary", "status"):
        table.add_column(col, overflow="fold")
    for row in rows:
        status = row["status"]
        style = "green" if status == "ok" else ("yellow" if status.startswith("blocked") else "red")
        table.add_row(*(str(row[c]) for c in ("kind", "name", "distribution", "version", "summary")),
                      f"[{style}]{status}[/{style}]")
    Console(width=200 if not Console().is_terminal else None).print(table)
