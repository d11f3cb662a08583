"""Fixtures for the package's tests: the gankit registry with this plugin in it, installed or not."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from gankit.plugins import Registry, load_registry, reset_registry

DIST = "gankit-qp-power"


def installed(registry: Registry) -> bool:
    """Whether this package's entry point is visible (it is after ``pip install``)."""
    return any(c.dist == DIST for c in registry.of_kind("divergence"))


@pytest.fixture
def registry() -> Iterator[Registry]:
    """The installed plugins, plus this package's module loaded directly when it is not installed, so the
    tests pass from a plain checkout too. It becomes gankit's process-wide registry for the test."""
    import gankit_qp_power

    reg = load_registry()
    if not installed(reg):
        reg = load_registry(extra=[(gankit_qp_power, DIST, gankit_qp_power.__version__)])
    reset_registry(reg)
    yield reg
    reset_registry()
