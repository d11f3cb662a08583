"""The ``gankit`` command line. Each command lives in its own module and imports torch only when it runs.

Every user-facing failure is a :class:`gankit.errors.GankitError`: printed as one line per problem, exit code
1 (130 for Ctrl-C), no traceback unless ``--debug`` is given (or ``GANKIT_DEBUG=1``).
"""

from __future__ import annotations

import os
import sys

import typer

from gankit.errors import GankitError

app = typer.Typer(
    name="gankit",
    help="A plugin-based GAN framework: train, validate, evaluate and extend GANs from TOML specs.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

_state = {"debug": os.environ.get("GANKIT_DEBUG", "") not in ("", "0")}


def debug_enabled() -> bool:
    return _state["debug"]


def _print_version(value: bool) -> None:
    if value:
        from gankit import __version__

        typer.echo(f"gankit {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    debug: bool = typer.Option(False, "--debug", help="Show full tracebacks for errors."),
    version: bool = typer.Option(
        False, "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    _state["debug"] = _state["debug"] or debug


def run(argv: list[str] | None = None) -> int:
    """Run the CLI on ``argv`` and return its exit code (what ``main`` and the tests call)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if "--debug" in argv:
        _state["debug"] = True
    try:
        app(args=argv, prog_name="gankit")
    except SystemExit as done:
        code = done.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    except GankitError as exc:
        if debug_enabled():
            raise
        for line in str(exc).splitlines() or [str(exc)]:
            typer.secho(f"error: {line}", fg=typer.colors.RED, err=True)
        return exc.exit_code
    except KeyboardInterrupt:
        if debug_enabled():
            raise
        typer.secho("error: interrupted", fg=typer.colors.RED, err=True)
        return 130
    except Exception as exc:  # a bug (ours or a plugin's): one line, the traceback on request
        if debug_enabled():
            raise
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        typer.secho(
            f"error: unexpected {type(exc).__name__}: {message} (run with --debug for the traceback)",
            fg=typer.colors.RED, err=True,
        )
        return 1
    return 0


def main() -> None:
    """Console-script entry point."""
    sys.exit(run())


# command modules register themselves on ``app`` when imported
from gankit.cli import eval as _eval  # noqa: E402,F401
from gankit.cli import new_plugin as _new_plugin  # noqa: E402,F401
from gankit.cli import plugins as _plugins  # noqa: E402,F401
from gankit.cli import sample as _sample  # noqa: E402,F401
from gankit.cli import schema as _schema  # noqa: E402,F401
from gankit.cli import sweep as _sweep  # noqa: E402,F401
from gankit.cli import train as _train  # noqa: E402,F401
from gankit.cli import validate as _validate  # noqa: E402,F401
