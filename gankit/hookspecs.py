"""The hooks a gankit plugin implements: one per component kind.

A plugin is any module registered under the ``gankit`` entry-point group. It implements one or more of the
hooks below with ``@gankit.hookimpl``; each receives a ``register`` callback::

    register(name, params_model, factory, summary)

* ``name`` -- what a spec writes in ``name = "..."`` (lower-case, dashes).
* ``params_model`` -- a pydantic model (subclass :class:`gankit.params.Params`) that validates the
  component's ``params`` table. Keep it free of torch imports: ``validate`` and ``schema`` import it.
* ``factory`` -- a callable ``factory(params, env) -> component`` or a ``"module:attr"`` string that is
  imported only when the component is built, so listing and validating stay fast.
* ``summary`` -- one line for ``gankit list-plugins``.

What each factory must return is described in :mod:`gankit.protocols`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pluggy

hookspec = pluggy.HookspecMarker("gankit")
hookimpl = pluggy.HookimplMarker("gankit")

Register = Callable[..., None]


@hookspec
def register_data(register: Register) -> None:
    """Register data sets: factories return a :class:`gankit.protocols.DataSource`."""


@hookspec
def register_generators(register: Register) -> None:
    """Register generators: factories return a :class:`gankit.protocols.Generator` (an ``nn.Module``)."""


@hookspec
def register_critics(register: Register) -> None:
    """Register critics (discriminators): factories return a :class:`gankit.protocols.Critic`."""


@hookspec
def register_divergences(register: Register) -> None:
    """Register divergences (GAN losses): factories return a :class:`gankit.protocols.Divergence`."""


@hookspec
def register_metrics(register: Register) -> None:
    """Register metrics: factories return a :class:`gankit.protocols.Metric`."""


@hookspec
def register_feature_extractors(register: Register) -> None:
    """Register feature extractors used by FID/KID/IS-style metrics (see :mod:`gankit.metrics`)."""


@hookspec
def register_augments(register: Register) -> None:
    """Register augmentations: factories return a :class:`gankit.protocols.Augment`."""


#: component kind -> the hook that registers it
HOOKS: dict[str, str] = {
    "data": "register_data",
    "generator": "register_generators",
    "critic": "register_critics",
    "divergence": "register_divergences",
    "metric": "register_metrics",
    "feature-extractor": "register_feature_extractors",
    "augment": "register_augments",
}

__all__: list[Any] = ["HOOKS", "hookimpl", "hookspec"]
