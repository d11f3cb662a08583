"""``python -m gankit``: the same as the ``gankit`` command (used by torchrun workers)."""

from gankit.cli import main

main()
