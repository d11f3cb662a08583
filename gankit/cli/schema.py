"""``gankit schema``: the JSON Schema of a spec, including every installed plugin's params."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from gankit.cli import app


@app.command()
def schema(
    output: Path = typer.Option(None, "--output", "-o", help="Write to this file instead of stdout."),
) -> None:
    """Print the JSON Schema of gankit specs (for editors and CI)."""
    from gankit.errors import GankitError
    from gankit.spec import spec_model

    doc = spec_model().model_json_schema()
    doc["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    doc["title"] = "gankit spec"
    text = json.dumps(doc, indent=2) + "\n"
    if output is None:
        typer.echo(text, nl=False)
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise GankitError(f"--output: cannot write {output}: {exc.strerror or exc}") from None
    typer.echo(f"wrote {output}")
