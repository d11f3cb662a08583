"""Writes checkpoints and artifacts under a real file-size limit (RLIMIT_FSIZE, set by the parent with SIGXFSZ
ignored, so a write past it fails with EFBIG "File too large", as a full disk fails with ENOSPC). Each case
first writes a small file that fits, then a large one that does not, and prints one JSON line describing what
the error said and what was left on disk. Run as ``python disk_full_worker.py FOLDER`` by test_disk_full.py."""

from __future__ import annotations

import json
import resource
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from gankit.engine import artifacts
from gankit.engine.checkpoint import list_checkpoints, load_checkpoint, save_checkpoint
from gankit.errors import GankitError


def listing(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def attempt(folder: Path, write: Callable[[], Any]) -> dict[str, Any]:
    try:
        write()
        return {"error": None, "files": listing(folder)}
    except GankitError as exc:
        return {"error": str(exc), "files": listing(folder)}
    except BaseException as exc:
        return {"error": f"UNEXPECTED {type(exc).__name__}: {exc}", "files": listing(folder)}


def checkpoint(folder: Path) -> dict[str, Any]:
    state = {"format": "gankit-checkpoint", "step": 1, "w": torch.zeros(10)}
    save_checkpoint(state, folder / "checkpoints", 1, keep=5)
    big = {"format": "gankit-checkpoint", "step": 2, "w": torch.randn(200_000)}
    result = attempt(folder, lambda: save_checkpoint(big, folder / "checkpoints", 2, keep=5))
    result["kept_step"] = load_checkpoint(list_checkpoints(folder / "checkpoints")[-1])["step"]
    return result


def json_file(folder: Path) -> dict[str, Any]:
    path = folder / "eval.json"
    artifacts.write_json_atomic(path, {"step": 1, "fid": 3.5})
    before = path.read_text()
    result = attempt(folder, lambda: artifacts.write_json_atomic(path, {"step": 2, "blob": "x" * 200_000}))
    result["unchanged"] = path.read_text() == before
    return result


def jsonl_file(folder: Path) -> dict[str, Any]:
    path = folder / "metrics.jsonl"
    artifacts.append_jsonl(path, {"step": 1, "loss": 0.5})
    artifacts.append_jsonl(path, {"step": 2, "loss": 0.4})
    before = path.read_bytes()
    result = attempt(folder, lambda: artifacts.append_jsonl(path, {"step": 3, "blob": "y" * 200_000}))
    result["unchanged"] = path.read_bytes() == before
    return result


def png_file(folder: Path) -> dict[str, Any]:
    path = folder / "samples" / "step-1.png"
    artifacts.save_png(torch.zeros(3, 8, 8), path)
    before = path.read_bytes()
    noise = torch.rand(3, 256, 256, generator=torch.Generator().manual_seed(0))
    result = attempt(folder, lambda: artifacts.save_png(noise, path))
    result["unchanged"] = path.read_bytes() == before
    return result


def csv_file(folder: Path) -> dict[str, Any]:
    path = folder / "points.csv"
    return attempt(folder, lambda: artifacts.save_points_csv(torch.randn(20_000, 2), path))


def plot_file(folder: Path) -> dict[str, Any]:
    limit, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (2_000, hard))  # any figure is larger
    try:
        rows = [{"step": i, "loss_critic": 1.0 / (i + 1), "loss_generator": float(i)} for i in range(50)]
        return attempt(folder, lambda: artifacts.plot_history(rows, folder / "plots" / "training.png"))
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))


CASES = {"checkpoint": checkpoint, "json": json_file, "jsonl": jsonl_file, "png": png_file, "csv": csv_file,
         "plot": plot_file}


def main() -> int:
    root = Path(sys.argv[1])
    results = {}
    for name, case in CASES.items():
        folder = root / name
        folder.mkdir(parents=True)
        results[name] = case(folder)
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
