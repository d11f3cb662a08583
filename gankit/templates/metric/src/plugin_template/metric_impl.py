"""The metric 'plugin-template': the distance between the means of generated and real samples — make it yours.

A metric is called with a ``gankit.protocols.EvalContext`` (``sample_fake(n)``, ``sample_real(n, split)``,
the device, a cache folder and a memo shared by one evaluation) and returns named values.
"""

from __future__ import annotations

import torch
from gankit.protocols import BuildEnv, EvalContext

from plugin_template.metric import PluginTemplateMetricParams


class PluginTemplateMetric:
    """A gankit metric (``gankit.protocols.Metric``): ``‖E x_f − E x_r‖₂`` over flattened samples."""

    def __init__(self, params: PluginTemplateMetricParams, env: BuildEnv) -> None:
        self.params = params

    @torch.no_grad()
    def __call__(self, ctx: EvalContext) -> dict[str, float]:
        fake, _ = ctx.sample_fake(self.params.n_samples)
        real, _ = ctx.sample_real(self.params.n_samples, "train")
        gap = fake.flatten(1).double().mean(0) - real.flatten(1).double().mean(0)
        return {"plugin-template": float(gap.norm())}
