"""gankit-plugin-template: a gankit plugin.

gankit imports this module (the ``gankit`` entry point in pyproject.toml names it) to list plugins and
validate specs. It imports the registration hooks from the torch-free ``<kind>.py`` modules, which hold the
params models; the implementations (``*_impl.py``) are imported only when a spec using them is built.
"""

from __future__ import annotations

from plugin_template.augment import register_augments
from plugin_template.critic import register_critics
from plugin_template.data import register_data
from plugin_template.divergence import register_divergences
from plugin_template.generator import register_generators
from plugin_template.metric import register_metrics

__version__ = "0.1.0"

__all__ = [
    "register_augments",
    "register_critics",
    "register_data",
    "register_divergences",
    "register_generators",
    "register_metrics",
]
