"""Plugin distributions for tests, made without pip: a module plus a hand-written ``.dist-info`` whose
``entry_points.txt`` registers it in the ``gankit`` group. A subprocess with the folder on ``PYTHONPATH``
discovers it exactly like an installed package (offline, in milliseconds)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def add_dist(site: Path, dist: str, module: str, code: str, version: str = "1.0.0") -> Path:
    """Write ``module`` (one file) and the metadata of distribution ``dist`` into ``site``."""
    site.mkdir(parents=True, exist_ok=True)
    (site / f"{module}.py").write_text(textwrap.dedent(code))
    info = site / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir(exist_ok=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    (info / "entry_points.txt").write_text(f"[gankit]\n{module} = {module}\n")
    return site


def run_gankit(site: Path | None, *args: str, timeout: float = 300, **kw: object) -> subprocess.CompletedProcess[str]:
    """``python -m gankit ARGS`` with ``site`` first on ``PYTHONPATH`` (then this worktree)."""
    paths = [str(site)] if site is not None else []
    paths += [str(ROOT), os.environ.get("PYTHONPATH", "")]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in paths if p)}
    return subprocess.run([sys.executable, "-m", "gankit", *args], capture_output=True, text=True, env=env,
                          timeout=timeout, cwd=kw.get("cwd", ROOT))  # type: ignore[arg-type]
