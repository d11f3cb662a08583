"""User-facing errors.

Everything a user controls (spec, CLI flags, data files, checkpoints, plugins) fails with a ``GankitError``:
the CLI prints its message as one line per problem and exits 1, without a traceback unless ``--debug``.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class GankitError(Exception):
    """An error caused by user input; ``str(err)`` is the complete, one-line-per-problem message."""

    exit_code = 1


class SpecError(GankitError):
    """One or more problems in a spec, each ``(path, message)``; all are reported at once."""

    def __init__(self, problems: list[tuple[str, str]], source: str | None = None) -> None:
        self.problems = problems
        self.source = source
        super().__init__("\n".join(self.lines()))

    def lines(self) -> list[str]:
        prefix = f"{self.source}: " if self.source else ""
        return [f"{prefix}{path}: {msg}" if path else f"{prefix}{msg}" for path, msg in self.problems]


class PluginError(GankitError):
    """A plugin misbehaved (bad registration, a factory that raised); the message names its distribution."""


class TrainingError(GankitError):
    """Training cannot continue (NaN/inf, an unwritable output, ...); checkpoints already written are kept."""


class Interrupted(GankitError):
    """The user pressed Ctrl-C (SIGINT); a checkpoint was saved when possible."""

    exit_code = 130


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """``"; did you mean 'x'?"`` for the closest choice, or ``""`` when nothing is close."""
    choices = list(choices)
    lowered = {c.lower().replace("_", "-"): c for c in choices}
    match = difflib.get_close_matches(word.lower().replace("_", "-"), list(lowered), n=1, cutoff=0.6)
    return f"; did you mean '{lowered[match[0]]}'?" if match else ""
