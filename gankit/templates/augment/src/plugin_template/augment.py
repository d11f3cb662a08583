"""The augmentation 'plugin-template': its params model and registration hook (torch-free).

An augmentation (``gankit.protocols.Augment``) is applied to every batch the critic sees, real and fake, in
both steps: a differentiable function ``x -> x'`` of the same shape. A spec turns it on with an ``[augment]``
table.
"""

from __future__ import annotations

from gankit.hookspecs import hookimpl
from gankit.params import Params
from pydantic import Field


class PluginTemplateAugmentParams(Params):
    """Params of 'plugin-template'. Unknown keys are errors and every field is documented (``gankit schema``)."""

    std: float = Field(0.05, ge=0, description="Standard deviation of the Gaussian noise added to each value.")


@hookimpl
def register_augments(register) -> None:  # type: ignore[no-untyped-def]
    register(
        "plugin-template",
        PluginTemplateAugmentParams,
        "plugin_template.augment_impl:PluginTemplateAugment",
        "additive Gaussian noise (scaffolded by gankit new-plugin)",
    )
