"""The critic 'plugin-template': its params model, declarations and registration hook (torch-free).

``CriticDeclarations`` (``gankit.protocols``) is what ``gankit validate`` asks a critic: its ``critic_kind``
(``"score"``, ``"autoencoder"`` or ``"pair"``; the built critic's ``kind`` must agree), ``needs_labels()``,
``has_class_head()`` and ``mixes_batch()`` — return ``(param, remedy)`` when a setting such as batch norm
couples the samples of a batch, so gradient-penalty losses refuse it with a clear message.
"""

from __future__ import annotations

from typing import ClassVar

from gankit.hookspecs import hookimpl
from gankit.params import Params
from gankit.protocols import CriticDeclarations, CriticKind
from pydantic import Field


class PluginTemplateCriticParams(Params, CriticDeclarations):
    """Params of 'plugin-template'. Unknown keys are errors and every field is documented (``gankit schema``)."""

    critic_kind: ClassVar[CriticKind] = "score"

    hidden: int = Field(128, gt=0, description="Width of the hidden layers.")


@hookimpl
def register_critics(register) -> None:  # type: ignore[no-untyped-def]
    register(
        "plugin-template",
        PluginTemplateCriticParams,
        "plugin_template.critic_impl:build",
        "an MLP critic (scaffolded by gankit new-plugin)",
    )
