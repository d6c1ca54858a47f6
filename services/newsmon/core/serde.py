"""JSON (de)serialisation of topic values with the contract models."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel

from newsmon.core.topics import TopicSpec

M = TypeVar("M", bound=BaseModel)


def encode(model: BaseModel) -> bytes:
    """A model as compact UTF-8 JSON."""
    return model.model_dump_json().encode("utf-8")


def decode(spec: TopicSpec, data: bytes | str) -> Any:
    """Validate a topic value against its model (raises pydantic.ValidationError)."""
    return spec.adapter().validate_json(data)


def decode_as(model: type[M], data: bytes | str) -> M:
    return model.model_validate_json(data)
