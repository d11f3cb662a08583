"""Base class for component parameter models.

Every component's ``params`` table is validated by its own subclass of :class:`Params`: unknown keys are
errors and values are immutable after validation. Subclasses must not import torch.

Optional cross-checks: a params model may override :meth:`Params.check` to report problems that involve
other parts of the spec (e.g. "this critic needs labelled data"). ``gankit validate`` runs them, so they
catch mistakes before any training starts.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict

if TYPE_CHECKING:
    from gankit.spec import Spec


class Params(BaseModel):
    """A component's parameters: strict keys, frozen, documented fields."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)

    def check(self, spec: Spec) -> Iterator[tuple[str, str]]:
        """Yield ``(field, message)`` problems involving the rest of ``spec``. ``field`` is relative to this
        component's params (``""`` for the params table), or an absolute spec path after a ``/``
        (``"/critic.name"``)."""
        return iter(())


class NoParams(Params):
    """For components without parameters."""
