"""The divergence 'plugin-template': its params model and registration hook (torch-free).

``DivergenceParams`` carries the declarations ``gankit validate`` checks against the critic
(``gankit.protocols.DivergenceDeclarations``): ``critic_kinds`` (default ``("score",)``; add ``"autoencoder"``
or ``"pair"`` if the loss handles them) and ``input_gradients`` (set it to True if the loss penalises the
critic's input gradients, e.g. with ``gankit.ops.interpolate_gradient_norms``: batch-norm critics are then
refused).
"""

from __future__ import annotations

from gankit.divergences import DivergenceParams
from gankit.hookspecs import hookimpl
from pydantic import Field


class PluginTemplateDivergenceParams(DivergenceParams):
    """Params of 'plugin-template'. Unknown keys are errors and every field is documented (``gankit schema``)."""

    margin: float = Field(1.0, gt=0, description="Margin m: real scores are pushed above m, fake ones below −m.")


@hookimpl
def register_divergences(register) -> None:  # type: ignore[no-untyped-def]
    register(
        "plugin-template",
        PluginTemplateDivergenceParams,
        "plugin_template.divergence_impl:PluginTemplateDivergence",
        "a hinge loss with a margin (scaffolded by gankit new-plugin)",
    )
