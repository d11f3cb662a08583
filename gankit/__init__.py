"""gankit: a plugin-based GAN framework.

Data flows one way: spec (``gankit.spec``) -> plugin registry (``gankit.plugins``) -> built components
(``gankit.build``) -> engine (``gankit.engine``) -> artifacts. Importing this package imports no torch, so the
CLI's fast commands stay fast.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("gankit")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"

__all__ = ["__version__"]
