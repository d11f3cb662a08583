"""Repository-wide checks: the example specs are valid and the code is ruff clean."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest
from conftest import ROOT


def test_every_example_spec_validates(cli):
    specs = sorted((ROOT / "specs").glob("*.toml"))
    assert specs, "specs/ holds no example"
    result = cli("validate", *specs)
    assert result.code == 0, result.err


def test_ruff_clean():
    ruff = shutil.which("ruff") or str(__import__("pathlib").Path(sys.executable).with_name("ruff"))
    if not __import__("pathlib").Path(ruff).exists():
        pytest.skip("ruff is not installed (pip install -e '.[test]')")
    result = subprocess.run([ruff, "check", str(ROOT)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
