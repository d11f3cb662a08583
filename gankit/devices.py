"""Device names, parsed once and without torch: ``auto``, ``cpu``, ``cuda``, ``cuda:N`` or ``mps``.

The spec's ``run.device`` and the ``--device`` flags of ``eval``/``sample`` share this parser, so a name is
refused the same way everywhere (and by ``validate``, which never imports torch). Whether the device exists
on this machine is decided later, by :func:`gankit.engine.context.resolve_device`.
"""

from __future__ import annotations

import re

#: what every device option accepts, for help texts and errors
DEVICE_CHOICES = "auto, cpu, cuda, cuda:N or mps"
#: far above any machine's GPU count, far below what overflows torch's device index
MAX_DEVICE_INDEX = 1023

_DEVICE = re.compile(r"(auto|cpu|cuda|mps)(?::(\d+))?")


def parse_device(name: str) -> tuple[str, int | None]:
    """``(kind, index)``, e.g. ``("cuda", 1)``; ``ValueError`` with a one-line reason for anything else."""
    match = _DEVICE.fullmatch(name)
    if match is None or (match.group(2) is not None and match.group(1) != "cuda"):
        raise ValueError(f"must be one of {DEVICE_CHOICES}")
    index = match.group(2)
    if index is None:
        return match.group(1), None
    if len(index) > 4 or int(index) > MAX_DEVICE_INDEX:
        raise ValueError(f"the device index must be at most {MAX_DEVICE_INDEX}")
    return "cuda", int(index)
