"""Fixtures: the gankit registry with this plugin in it, installed or not, and the example spec."""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from gankit.plugins import Registry, load_registry, reset_registry

DIST = "gankit-plugin-template"
SPEC = Path(__file__).resolve().parents[1] / "specs" / "example.toml"


def installed(registry: Registry) -> bool:
    """Whether this package's entry point is visible (it is after ``pip install``)."""
    return any(c.dist == DIST for kind in registry.components for c in registry.of_kind(kind))


@pytest.fixture
def registry() -> Iterator[Registry]:
    """The installed plugins, plus this package's module loaded directly when it is not installed, so the
    tests pass from a plain checkout too. It becomes gankit's process-wide registry for the test."""
    import plugin_template

    reg = load_registry()
    if not installed(reg):
        reg = load_registry(extra=[(plugin_template, DIST, plugin_template.__version__)])
    reset_registry(reg)
    yield reg
    reset_registry()


@pytest.fixture
def spec_data() -> Callable[..., dict[str, Any]]:
    """``spec_data(table=...)``: the example spec as a dict, with some tables replaced."""

    def make(**tables: Any) -> dict[str, Any]:
        data = tomllib.loads(SPEC.read_text(encoding="utf-8"))
        data["run"]["requires"] = []
        data.update(tables)
        return data

    return make
