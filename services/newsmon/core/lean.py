"""Lean decoding: a contract's records validated as the contract validates them, with the
items they nest (an article's entities and their mentions, its observations, its events)
given as plain dicts rather than model instances.

The tracker's routers read each item once, to re-key it onto an internal topic as a dict: a
model instance per item and per nested value (40,415 mentions in the benchmark's 657 entity
records) was most of the cost of decoding them (0.14 s against 0.06 s for the same records).

`lean_model(model)` is generated from the contract model, not written again: each nested
model becomes a `TypedDict` whose fields carry the model's own `FieldInfo` (type,
constraints, default), with unknown keys forbidden as `Contract` forbids them. So a record
is accepted or rejected exactly as by the contract (tests/unit/core/test_lean.py checks this on
valid and broken records), and a defaulted field missing from the JSON is filled in with its
default, as the model fills it. A model with validators, serializers or settings beyond
`extra` and `frozen` is refused: its lean form could not promise the same result.

The dicts are the values the model holds, in Python form (`model_dump()`): dates as dates.
Nothing must change them (a model instance was frozen).
"""

from __future__ import annotations

import types
from functools import cache
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, create_model
from typing_extensions import TypedDict

#: The model settings a lean form keeps the meaning of (a dict is not frozen, but nothing
#: changes a decoded record).
_SUPPORTED_CONFIG = {"extra", "frozen"}
#: `TypedDict` called with a computed name (which type checkers cannot follow).
_TYPED_DICT: Any = TypedDict


def _check(model: type[BaseModel]) -> None:
    decorators = model.__pydantic_decorators__
    if any(
        getattr(decorators, kind)
        for kind in (
            "validators",
            "field_validators",
            "root_validators",
            "model_validators",
            "field_serializers",
            "model_serializers",
            "computed_fields",
        )
    ):
        raise TypeError(f"{model.__name__} has validators or serializers: no lean form")
    unsupported = set(model.model_config) - _SUPPORTED_CONFIG
    if unsupported:
        raise TypeError(f"{model.__name__} has settings a lean form ignores: {unsupported}")
    for name, info in model.model_fields.items():
        if info.alias is not None or info.validation_alias is not None:
            raise TypeError(f"{model.__name__}.{name} has an alias: no lean form")


def _lean_type(tp: Any) -> Any:
    """`tp` with every contract model in it replaced by its `TypedDict`."""
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return lean_dict(tp)
    origin, args = get_origin(tp), get_args(tp)
    if not args:
        return tp
    if origin is list:
        return list[_lean_type(args[0])]  # type: ignore[misc]
    if origin is Union or origin is types.UnionType:
        return Union[tuple(_lean_type(a) for a in args)]  # noqa: UP007
    if origin is Annotated:
        return Annotated[(_lean_type(args[0]), *tp.__metadata__)]
    if any(_lean_type(a) != a for a in args):
        raise TypeError(f"no lean form for {tp!r}")
    return tp


@cache
def lean_dict(model: type[BaseModel]) -> Any:
    """The `TypedDict` that validates what `model` validates (see the module's doc)."""
    _check(model)
    fields = {
        name: Annotated[_lean_type(info.annotation), info]
        for name, info in model.model_fields.items()
    }
    td: Any = _TYPED_DICT(f"{model.__name__}Dict", fields)
    td.__pydantic_config__ = ConfigDict(extra=model.model_config.get("extra"))
    return td


@cache
def lean_model(model: type[BaseModel]) -> Any:
    """A subclass of `model` whose fields that hold contract models hold their dicts instead:
    its own fields (an article's id, source, times) stay attributes."""
    _check(model)
    overrides: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        lean = _lean_type(info.annotation)
        if lean != info.annotation:
            overrides[name] = (lean, info)
    # The contract's name: a validation error reads as the contract's ("... for ArticleEvents").
    return create_model(model.__name__, __base__=model, **overrides)


def items(values: Any) -> list[dict[str, Any]]:
    """A record's nested items as dicts: as a lean model decoded them, or dumped from a
    contract model's (which tests and callers in process build)."""
    if values and isinstance(values[0], BaseModel):
        return [v.model_dump() for v in values]
    return values if isinstance(values, list) else list(values)
