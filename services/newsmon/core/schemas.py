"""Generates `schemas/`: a JSON Schema per topic value and an AsyncAPI 3 document of the topics."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from newsmon.core import topics
from newsmon.core.models import SCHEMA_VERSION


def json_schema(spec: topics.TopicSpec) -> dict[str, Any]:
    schema = spec.adapter().json_schema(ref_template="#/$defs/{model}")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = f"{spec.name}.schema.json"
    schema.setdefault("description", spec.description)
    return schema


def asyncapi() -> dict[str, Any]:
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for spec in topics.TOPICS.values():
        key = spec.name.replace(".", "_")
        msg_name = f"{key}_message"
        messages[msg_name] = {
            "name": msg_name,
            "contentType": "application/json",
            "payload": {"$ref": f"./{spec.name}.schema.json"},
            "bindings": {
                "kafka": {
                    "key": {
                        "type": "string",
                        "description": f"the value's `{spec.key_field}` field",
                    },
                    "bindingVersion": "0.5.0",
                }
            },
        }
        channels[key] = {
            "address": spec.name,
            "description": spec.description,
            "messages": {msg_name: {"$ref": f"#/components/messages/{msg_name}"}},
            "bindings": {
                "kafka": {
                    "topic": spec.name,
                    "partitions": spec.partitions,
                    "topicConfiguration": {"cleanup.policy": [spec.cleanup_policy]},
                    "bindingVersion": "0.5.0",
                }
            },
        }
        operations[f"publish_{key}"] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{key}"},
        }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "newsmon topics",
            "version": f"{SCHEMA_VERSION}.0.0",
            "description": "Kafka topics of newsmon; values are JSON documents of the models.",
        },
        "defaultContentType": "application/json",
        "servers": {
            "local": {
                "host": "127.0.0.1:19092",
                "protocol": "kafka",
                "description": "newsmon broker",
            }
        },
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages},
    }


def render() -> dict[str, str]:
    """File name -> content of everything under schemas/."""
    files = {
        f"{spec.name}.schema.json": json.dumps(json_schema(spec), indent=2, sort_keys=True) + "\n"
        for spec in topics.TOPICS.values()
    }
    files["asyncapi.yaml"] = yaml.safe_dump(asyncapi(), sort_keys=False, allow_unicode=True)
    return files


def export(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, content in render().items():
        path = folder / name
        path.write_text(content, encoding="utf-8")
        written.append(path)
    return written


def drift(folder: Path) -> list[str]:
    """Names of files under `folder` that differ from what the models generate."""
    out = []
    for name, content in render().items():
        path = folder / name
        if not path.exists() or path.read_text(encoding="utf-8") != content:
            out.append(name)
    return out
