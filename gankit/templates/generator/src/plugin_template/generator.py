"""The generator 'plugin-template': its params model and registration hook (torch-free).

``GeneratorDeclarations`` (``gankit.protocols``) is what ``gankit validate`` asks a generator: override
``needs_labels()`` to return True for a conditional generator.
"""

from __future__ import annotations

from gankit.hookspecs import hookimpl
from gankit.params import Params
from gankit.protocols import GeneratorDeclarations
from pydantic import Field


class PluginTemplateGeneratorParams(Params, GeneratorDeclarations):
    """Params of 'plugin-template'. Unknown keys are errors and every field is documented (``gankit schema``)."""

    latent_dim: int = Field(2, gt=0, description="Dimension of z ~ N(0, I).")
    hidden: int = Field(128, gt=0, description="Width of the hidden layers.")


@hookimpl
def register_generators(register) -> None:  # type: ignore[no-untyped-def]
    register(
        "plugin-template",
        PluginTemplateGeneratorParams,
        "plugin_template.generator_impl:build",
        "an MLP generator (scaffolded by gankit new-plugin)",
    )
