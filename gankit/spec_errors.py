"""Pydantic's validation errors as gankit's one-line ``path: message`` problems.

Discriminator tags are dropped from locations (``generator.mlp.params.width`` reads ``generator.params.width``),
unknown keys get a did-you-mean from the model found at that location, and unknown component names get the
registry's own message. Nothing here imports torch.
"""

from __future__ import annotations

import types
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError

from gankit.errors import did_you_mean
from gankit.plugins import Registry

_METRIC_KIND = "metric"

_KIND_OF_TABLE = {
    "data": "data", "generator": "generator", "critic": "critic", "divergence": "divergence", "augment": "augment"
}


def explain(exc: ValidationError, model: type[BaseModel], registry: Registry) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    for err in exc.errors(include_url=False):
        raw_loc = tuple(err["loc"])
        loc, kind = strip_tags(raw_loc)
        path = ".".join(str(p) for p in loc)
        etype = err["type"]
        if etype in ("unknown_component", "component_name_missing"):  # already one line, from the model
            problems.append((path, err["msg"]))
        elif etype == "union_tag_invalid":
            try:
                registry.lookup(kind, str(err["ctx"]["tag"]))
                msg = f"unknown {kind} '{err['ctx']['tag']}'"
            except LookupError as lookup_error:
                msg = str(lookup_error)
            problems.append((f"{path}.name" if path else "name", msg))
        elif etype == "union_tag_not_found":
            names = ", ".join(sorted(c.name for c in registry.of_kind(kind))) or "none installed"
            problems.append((path, f"missing 'name' (one of: {names})"))
        elif etype == "extra_forbidden":
            siblings = _fields_at(model, raw_loc[:-1])
            hint = did_you_mean(str(raw_loc[-1]), siblings) if siblings else ""
            what = "table" if isinstance(err["input"], dict) else "key"
            problems.append((path, f"unknown {what}{hint}"))
        elif etype == "missing":
            problems.append((path, "required but missing"))
        elif etype in ("model_type", "model_attributes_type", "dict_type"):
            problems.append((path, f"expected a table (got {err['input']!r})"))
        elif etype == "list_type" and loc == ("metrics",):
            problems.append((path, "expected an array of tables ([[metrics]])"))
        else:
            msg = err["msg"]
            msg = msg[0].lower() + msg[1:] if msg else msg
            if not isinstance(err["input"], dict | list) and etype != "strict_scalar":  # that one says it
                msg += f" (got {err['input']!r})"
            problems.append((path, msg))
    return problems


def strip_tags(loc: tuple[Any, ...]) -> tuple[tuple[Any, ...], str]:
    """Drop pydantic's discriminator tags from a location; also return the component kind there."""
    if not loc:
        return loc, ""
    if loc[0] in _KIND_OF_TABLE:
        kind = _KIND_OF_TABLE[loc[0]]
        if len(loc) > 1 and loc[1] not in ("name", "params"):
            return (loc[0], *loc[2:]), kind
        return loc, kind
    if loc[0] == "metrics" and len(loc) > 2 and isinstance(loc[1], int) and loc[2] not in ("name", "params"):
        return (*loc[:2], *loc[3:]), _METRIC_KIND
    return loc, _METRIC_KIND if loc[0] == "metrics" else ""


def _unwrap(tp: Any) -> list[Any]:
    """The model classes (or list element types) a field annotation can hold."""
    origin = get_origin(tp)
    if origin is Annotated:
        return _unwrap(get_args(tp)[0])
    if origin in (Union, types.UnionType):
        return [t for arg in get_args(tp) for t in _unwrap(arg)]
    return [tp]


def _fields_at(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """Field names of the model found at ``loc``, a raw pydantic location (discriminator tags included)."""
    candidates: list[Any] = [model]
    for part in loc:
        tagged = [t for t in candidates if _tag_matches(t, part)]
        if tagged:  # a discriminated union puts the chosen tag in the location
            candidates = tagged
            continue
        nxt: list[Any] = []
        for tp in candidates:
            if get_origin(tp) is list and isinstance(part, int):
                nxt.extend(_unwrap(get_args(tp)[0]))
            elif isinstance(tp, type) and issubclass(tp, BaseModel) and part in tp.model_fields:
                nxt.extend(_unwrap(tp.model_fields[part].annotation))
        candidates = nxt
    return [f for tp in candidates if isinstance(tp, type) and issubclass(tp, BaseModel) for f in tp.model_fields]


def _tag_matches(tp: Any, tag: Any) -> bool:
    """Whether ``tp`` is the component table model a discriminator ``tag`` selects (its ``name`` literal)."""
    if not (isinstance(tp, type) and issubclass(tp, BaseModel)) or "name" not in tp.model_fields:
        return False
    return tag in get_args(tp.model_fields["name"].annotation)
