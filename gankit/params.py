"""Base class for component parameter models.

Every component's ``params`` table is validated by its own subclass of :class:`Params`: unknown keys are
errors and values are immutable after validation. Subclasses must not import torch.

Every params model (a third-party one too, without declaring anything) also gets two checks from the base:
floats must be finite (``inf``/``nan`` are refused), and numbers and booleans are taken as written — ``true``
is not the integer 1, ``2.0`` is not the integer 2, ``"5"`` is not a number (pydantic's lax mode would accept
all three). An integer is still accepted where a float is expected. The spec's own tables use the same rules
(:class:`StrictScalars`).

Optional cross-checks: a params model may override :meth:`Params.check` to report problems that involve
other parts of the spec (e.g. "this critic needs labelled data"). ``gankit validate`` runs them, so they
catch mistakes before any training starts.
"""

from __future__ import annotations

import types
from collections.abc import Iterator
from typing import TYPE_CHECKING, Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

if TYPE_CHECKING:
    from gankit.spec import Spec

_SCALARS = (int, float, bool, type(None))


def _members(annotation: Any) -> tuple[list[type], list[Any]] | None:
    """The scalar types and literal values a field admits, or ``None`` when it admits anything else (strings,
    lists, models, ...), whose types pydantic already checks strictly enough."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return _members(get_args(annotation)[0])
    if origin is Literal:
        return [], list(get_args(annotation))
    if origin in (Union, types.UnionType):
        kinds: list[type] = []
        literals: list[Any] = []
        for arg in get_args(annotation):
            found = _members(arg)
            if found is None:
                return None
            kinds += found[0]
            literals += found[1]
        return kinds, literals
    if annotation in _SCALARS:
        return [annotation], []
    return None


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value)


def scalar_type_problem(value: Any, annotation: Any) -> str | None:
    """Why ``value`` is not of the scalar type ``annotation`` asks for, taken strictly (``None`` if it is, or if
    the annotation is not made of ints, floats, bools, ``None`` and literals)."""
    found = _members(annotation)
    if found is None or value is None or isinstance(value, dict | list | tuple):
        return None
    kinds, literals = found
    if any(type(lit) is type(value) and lit == value for lit in literals):
        return None
    if isinstance(value, bool):
        fits = bool in kinds
    elif isinstance(value, int):
        fits = int in kinds or float in kinds
    elif isinstance(value, float):
        # a fractional value for an integer is refused by pydantic itself, with a message saying so
        fits = float in kinds or (int in kinds and not value.is_integer())
    else:
        fits = False
    if fits:
        return None
    nouns = [noun for kind, noun in ((int, "integer"), (float, "number"), (bool, "boolean")) if kind in kinds]
    if len(nouns) == 1 and not literals:
        return f"input should be a valid {nouns[0]} (got {_toml(value)})"
    wanted = [f"a valid {noun}" for noun in nouns] + [_toml(lit) for lit in literals]
    choices = wanted[0] if len(wanted) == 1 else f"{', '.join(wanted[:-1])} or {wanted[-1]}"
    return f"input should be {choices} (got {_toml(value)})"


class StrictScalars(BaseModel):
    """Finite floats, and numbers and booleans of exactly the declared type (see the module docstring)."""

    model_config = ConfigDict(allow_inf_nan=False)

    @field_validator("*", mode="before")
    @classmethod
    def _strict_scalar(cls, value: Any, info: ValidationInfo) -> Any:
        field = cls.model_fields.get(info.field_name) if info.field_name else None
        if field is not None:
            problem = scalar_type_problem(value, field.annotation)
            if problem:
                raise PydanticCustomError("strict_scalar", problem)
        return value


class Params(StrictScalars):
    """A component's parameters: strict keys, frozen, documented fields."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)

    def check(self, spec: Spec) -> Iterator[tuple[str, str]]:
        """Yield ``(field, message)`` problems involving the rest of ``spec``. ``field`` is relative to this
        component's params (``""`` for the params table), or an absolute spec path after a ``/``
        (``"/critic.name"``)."""
        return iter(())


class NoParams(Params):
    """For components without parameters."""
