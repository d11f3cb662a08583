"""``import``: a user's own feature network, named by ``module:callable`` and allowed only with ``--allow-imports``.

The callable is called with the ``kwargs`` param and returns an ``nn.Module`` (or any callable) mapping a batch
of images in ``[-1, 1]`` to features ``(B, D)`` or to ``(features, logits)``. It runs under
``torch.inference_mode`` on the run's device (modules are moved there and put in eval mode). Reference
statistics are cached on disk only when the returned object has a string attribute ``digest`` naming its
weights and preprocessing: without one gankit cannot tell when a cached file went stale.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from torch import Tensor, nn

from gankit.errors import GankitError
from gankit.features import ImportParams
from gankit.features.base import Extractor
from gankit.protocols import BuildEnv


class ImportedExtractor(Extractor):
    def __init__(self, target: str, fn: Callable[[Tensor], Any], batch_size: int) -> None:
        super().__init__(batch_size)
        self.name = f"import:{target}"
        self.fn = fn
        if isinstance(fn, nn.Module):
            self.module = fn.eval().requires_grad_(False)
        digest = getattr(fn, "digest", None)
        self.digest = f"import-{target}-{digest}" if isinstance(digest, str) and digest else None

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor | None]:
        out = self.fn(x)
        if isinstance(out, tuple) and len(out) == 2:
            feats, logits = out
        else:
            feats, logits = out, None
        if not isinstance(feats, Tensor) or feats.shape[0] != x.shape[0]:
            raise GankitError(f"feature extractor '{self.name}' must return features of shape (B, D) for a batch "
                              f"of {x.shape[0]}, got {getattr(feats, 'shape', type(feats).__name__)}")
        return feats, logits


def build(params: ImportParams, env: BuildEnv) -> ImportedExtractor:
    if not env.allow_imports:
        raise GankitError(f"feature extractor 'import' would run code from '{params.target}'; pass --allow-imports "
                          "(gankit train/eval) to allow a spec to import it")
    module_name, _, attr = params.target.partition(":")
    try:
        obj: Any = importlib.import_module(module_name)
        for part in attr.split("."):
            obj = getattr(obj, part)
    except Exception as exc:
        raise GankitError(f"feature extractor 'import': cannot import '{params.target}': "
                          f"{type(exc).__name__}: {exc}") from None
    if not callable(obj):
        raise GankitError(f"feature extractor 'import': '{params.target}' is not callable")
    try:
        fn = obj(**params.kwargs)
    except Exception as exc:
        raise GankitError(f"feature extractor 'import': '{params.target}(**kwargs)' failed: "
                          f"{type(exc).__name__}: {exc}") from None
    if not callable(fn):
        raise GankitError(f"feature extractor 'import': '{params.target}' returned {type(fn).__name__}, "
                          "not a module or callable")
    return ImportedExtractor(params.target, fn, params.batch_size)
