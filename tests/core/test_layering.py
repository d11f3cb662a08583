"""Layering rules the code relies on: divergences never import the engine, the engine's regularisers never
import a divergence (both use :mod:`gankit.ops`), and the example plugin uses the public ops."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def imported_modules(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


@pytest.mark.parametrize("path", sorted((ROOT / "gankit" / "divergences").glob("*.py")), ids=lambda p: p.name)
def test_divergences_never_import_the_engine(path):
    assert not {m for m in imported_modules(path) if m.startswith("gankit.engine")}


def test_engine_regularizers_use_the_ops_module_not_a_divergence():
    found = imported_modules(ROOT / "gankit" / "engine" / "regularizers.py")
    assert "gankit.ops" in found
    assert not {m for m in found if m.startswith("gankit.divergences")}


def test_the_example_plugin_uses_the_public_ops_instead_of_copying_them():
    loss = ROOT / "plugins" / "gankit-qp-power" / "src" / "gankit_qp_power" / "loss.py"
    assert "gankit.ops" in imported_modules(loss)
    tree = ast.parse(loss.read_text(encoding="utf-8"))
    assert not [n.name for n in tree.body if isinstance(n, ast.FunctionDef)]  # no private copy of Δ
