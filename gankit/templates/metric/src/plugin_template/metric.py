"""The metric 'plugin-template': its params model, declarations and registration hook (torch-free).

``MetricDeclarations`` (``gankit.protocols``) is what ``gankit validate`` checks against the data: ``needs``
(``"images"``, ``"labels"``, ``"logits"``, ``"modes"``) and, for metrics that read a feature extractor,
``extractor_name()``. This metric works on any data, so it needs nothing.
"""

from __future__ import annotations

from gankit.hookspecs import hookimpl
from gankit.params import Params
from gankit.protocols import MetricDeclarations
from pydantic import Field


class PluginTemplateMetricParams(Params, MetricDeclarations):
    """Params of 'plugin-template'. Unknown keys are errors and every field is documented (``gankit schema``)."""

    n_samples: int = Field(1000, gt=0, description="Generated and real samples to compare.")


@hookimpl
def register_metrics(register) -> None:  # type: ignore[no-untyped-def]
    register(
        "plugin-template",
        PluginTemplateMetricParams,
        "plugin_template.metric_impl:PluginTemplateMetric",
        "distance between the means of generated and real samples (scaffolded by gankit new-plugin)",
    )
