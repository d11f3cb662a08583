"""Built-in feature extractors for FID/KID/IS-style metrics (a gankit plugin; see ``register_feature_extractors``)."""

from __future__ import annotations

from gankit.hookspecs import hookimpl


@hookimpl
def register_feature_extractors(register) -> None:  # type: ignore[no-untyped-def]
    """Extractors are registered by the metrics work (issue 6)."""
