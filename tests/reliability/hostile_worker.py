"""Loads hostile files under an address-space limit of (what the imports already use) + 1 GiB, and prints one
JSON line per file: ``outcome`` is ``ERROR: <message>`` for a clean gankit error, ``UNEXPECTED <type>: ...``
otherwise; ``growth`` is how far the peak resident size has risen above what the imports had already used
(torch and torchvision alone take most of a gigabyte). Run as ``python hostile_worker.py CASE PATH
[CASE PATH ...]`` by test_hostile_files.py (one process for all files: each import of torch costs seconds)."""

from __future__ import annotations

import json
import resource
import sys
from pathlib import Path

import numpy  # noqa: F401  (imports first: the limit is on top of what they map)
import PIL.Image  # noqa: F401
import torch  # noqa: F401
import torchvision.transforms.functional  # noqa: F401

from gankit.errors import GankitError

HEADROOM = 2**30


def vm_size() -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmSize in /proc/self/status")


def load(case: str, path: Path) -> None:
    if case == "idx":
        from gankit.data.idx import load_split

        load_split(path.parent, "train")
    elif case == "cifar":
        from gankit.data.cifar import read_arrays

        read_arrays(path, "labels")
    elif case == "image":
        from gankit.data.folder import load_image

        load_image(path, 64, 3)
    elif case == "probe":
        from gankit.data.folder import probe_image

        probe_image(path)
    elif case == "folders":
        from gankit.data.folder import read_image_folders

        files = sorted(path.iterdir())
        read_image_folders(files, files[-1:])
    else:
        raise SystemExit(f"unknown case {case}")


def main() -> int:
    args = sys.argv[1:]
    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    hard = resource.getrlimit(resource.RLIMIT_AS)[1]
    resource.setrlimit(resource.RLIMIT_AS, (vm_size() + HEADROOM, hard))
    for case, path in zip(args[::2], args[1::2], strict=True):
        try:
            load(case, Path(path))
            outcome = "NO ERROR"
        except GankitError as exc:
            outcome = f"ERROR: {exc}"
        except BaseException as exc:  # the point is to report anything else
            outcome = f"UNEXPECTED {type(exc).__name__}: {str(exc)[:300]}"
        growth = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - baseline) * 1024
        print(json.dumps({"case": case, "path": path, "outcome": outcome, "growth": growth}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
