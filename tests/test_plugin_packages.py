"""Each package in plugins/ passes its own test suite, run the way its author runs it: its own pytest session
from its own folder (its conftest.py is its business, not the root suite's)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT

PACKAGES = sorted(p for p in (ROOT / "plugins").iterdir() if (p / "pyproject.toml").is_file())


def test_there_is_an_example_plugin_package() -> None:
    assert [p.name for p in PACKAGES] == ["gankit-qp-power"]


@pytest.mark.parametrize("package", PACKAGES, ids=lambda p: p.name)
def test_plugin_package_passes_its_own_tests(package: Path) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"], cwd=package,
                            capture_output=True, text=True, timeout=600, env=env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert " passed" in result.stdout and " failed" not in result.stdout
