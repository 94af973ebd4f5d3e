"""The message schemas of docs/protocol.md, read from the document itself, and a validator for them.

The schemas are JSON Schema (the keywords below, a subset of draft 2020-12), one fenced `json` block per
message type with a `$id`. The validator is written here rather than installed: the subset is small, and a
keyword it does not know fails loudly instead of being skipped, so the document cannot promise more than
the tests check.
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

PROTOCOL = Path(__file__).resolve().parent.parent / "docs" / "protocol.md"
# Keywords that only describe; everything else must be one the validator checks.
DESCRIPTIVE = {"$id", "$defs", "title", "description", "examples"}
CHECKED = {
    "$ref",
    "type",
    "const",
    "enum",
    "properties",
    "required",
    "additionalProperties",
    "propertyNames",
    "items",
    "minItems",
    "maxItems",
    "minimum",
    "maximum",
    "maxLength",
    "oneOf",
    "anyOf",
}


@cache
def schemas() -> dict[str, dict[str, Any]]:
    """Every schema in docs/protocol.md by its `$id` ("dashboard/aggregate", "phone/welcome", …)."""
    found = {}
    for block in re.findall(r"```json\n(.*?)```", PROTOCOL.read_text(), re.S):
        if '"$id"' not in block:
            continue  # an example message, not a schema
        schema = json.loads(block)
        assert schema["$id"] not in found, f"two schemas with $id {schema['$id']}"
        found[schema["$id"]] = schema
    return found


def _resolve(ref: str, here: str) -> tuple[dict[str, Any], str]:
    """`other/id#/json/pointer` or `#/json/pointer` (within the schema at `here`)."""
    document, _, pointer = ref.partition("#")
    document = document or here
    target: Any = schemas()[document]
    for part in filter(None, pointer.split("/")):
        target = target[part]
    return target, document


def _type_ok(value: Any, kind: str) -> bool:
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    python = {"string": str, "boolean": bool, "null": type(None), "object": dict, "array": list}[kind]
    return isinstance(value, python)


def errors(value: Any, schema: dict[str, Any], *, here: str, path: str = "$") -> list[str]:
    """Where `value` breaks `schema` (empty when it conforms); `here` is the `$id` that local refs resolve in."""
    unknown = set(schema) - DESCRIPTIVE - CHECKED
    assert not unknown, f"{here}: the validator does not check {sorted(unknown)}"
    found: list[str] = []
    if "$ref" in schema:
        target, document = _resolve(schema["$ref"], here)
        found += errors(value, target, here=document, path=path)
    if "type" in schema:
        kinds = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if not any(_type_ok(value, kind) for kind in kinds):
            return [*found, f"{path}: {value!r} is not {' or '.join(kinds)}"]
    if "const" in schema and (value != schema["const"] or type(value) is not type(schema["const"])):
        found.append(f"{path}: {value!r} is not {schema['const']!r}")
    if "enum" in schema and not any(value == v and type(value) is type(v) for v in schema["enum"]):
        found.append(f"{path}: {value!r} is not one of {schema['enum']}")
    if isinstance(value, dict):
        found += _object_errors(value, schema, here=here, path=path)
    if isinstance(value, list):
        if "minItems" in schema and len(value) < schema["minItems"]:
            found.append(f"{path}: fewer than {schema['minItems']} items")
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            found.append(f"{path}: more than {schema['maxItems']} items")
        if "items" in schema:
            for i, item in enumerate(value):
                found += errors(item, schema["items"], here=here, path=f"{path}[{i}]")
    if _type_ok(value, "number"):
        if "minimum" in schema and value < schema["minimum"]:
            found.append(f"{path}: {value} < {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            found.append(f"{path}: {value} > {schema['maximum']}")
    if isinstance(value, str) and "maxLength" in schema and len(value) > schema["maxLength"]:
        found.append(f"{path}: longer than {schema['maxLength']}")
    if "anyOf" in schema and all(errors(value, s, here=here, path=path) for s in schema["anyOf"]):
        found.append(f"{path}: matches none of anyOf")
    if "oneOf" in schema:
        matching = sum(not errors(value, s, here=here, path=path) for s in schema["oneOf"])
        if matching != 1:
            found.append(f"{path}: matches {matching} of oneOf, not exactly one")
    return found


def _object_errors(value: dict[str, Any], schema: dict[str, Any], *, here: str, path: str) -> list[str]:
    found = [f"{path}: {name!r} missing" for name in schema.get("required", []) if name not in value]
    properties = schema.get("properties", {})
    extra = schema.get("additionalProperties", True)
    for name, item in value.items():
        if "propertyNames" in schema:
            found += errors(name, schema["propertyNames"], here=here, path=f"{path} key {name!r}")
        if name in properties:
            found += errors(item, properties[name], here=here, path=f"{path}.{name}")
        elif extra is False:
            found.append(f"{path}: {name!r} is not a documented field")
        elif isinstance(extra, dict):
            found += errors(item, extra, here=here, path=f"{path}.{name}")
    return found


def check(message: dict[str, Any], schema_id: str) -> None:
    """Assert that `message` conforms to the documented schema `schema_id`."""
    problems = errors(message, schemas()[schema_id], here=schema_id)
    assert not problems, f"{schema_id}: " + "; ".join(problems[:10])
