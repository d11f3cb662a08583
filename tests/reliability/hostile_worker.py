"""Loads one hostile file under an address-space limit of (what the imports already use) + 1 GiB, and prints
one line: ``ERROR: <message>`` for a clean gankit error, ``UNEXPECTED <type>: ...`` otherwise, then
``PEAK_RSS <bytes>``. Run as ``python hostile_worker.py CASE PATH`` by test_hostile_files.py."""

from __future__ import annotations

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
    else:
        raise SystemExit(f"unknown case {case}")


def main() -> int:
    case, path = sys.argv[1], Path(sys.argv[2])
    hard = resource.getrlimit(resource.RLIMIT_AS)[1]
    resource.setrlimit(resource.RLIMIT_AS, (vm_size() + HEADROOM, hard))
    try:
        load(case, path)
        print("NO ERROR")
    except GankitError as exc:
        print(f"ERROR: {exc}")
    except BaseException as exc:
        print(f"UNEXPECTED {type(exc).__name__}: {str(exc)[:300]}")
    print(f"PEAK_RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
