"""A validator for the subset of OpenAPI 3.0 schema keywords engine-api.yaml uses.

Keywords: type (with ``nullable``), properties, required, additionalProperties,
items, enum, $ref to ``#/components/schemas``. An unknown keyword is an error, so
the file cannot silently use something this checker ignores.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml

SPEC_PATH = Path(__file__).resolve().parents[3] / "schemas" / "engine-api.yaml"
KNOWN = {"type", "nullable", "properties", "required", "additionalProperties", "items",
         "enum", "$ref", "description"}
TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,), "integer": (int,), "number": (int, float), "boolean": (bool,),
    "object": (dict,), "array": (list,),
}


@cache
def load_spec() -> dict[str, Any]:
    spec: dict[str, Any] = yaml.safe_load(SPEC_PATH.read_text())
    return spec


def resolve(schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = load_spec()["components"]["schemas"][name]
    return schema


def validate(value: Any, schema: dict[str, Any], where: str = "$") -> list[str]:
    schema = resolve(schema)
    unknown = set(schema) - KNOWN
    if unknown:
        return [f"{where}: schema uses unsupported keywords {sorted(unknown)}"]
    if value is None:
        return [] if schema.get("nullable") else [f"{where}: null is not allowed"]
    problems: list[str] = []
    kind = schema.get("type")
    if kind is not None:
        allowed = TYPES[kind]
        if not isinstance(value, allowed) or (kind in ("integer", "number") and
                                              isinstance(value, bool)):
            return [f"{where}: {type(value).__name__} is not {kind}"]
    if "enum" in schema and value not in schema["enum"]:
        problems.append(f"{where}: {value!r} not in {schema['enum']}")
    if isinstance(value, dict):
        for key in schema.get("required", []):
            if key not in value:
                problems.append(f"{where}: missing required {key!r}")
        properties = schema.get("properties", {})
        extra = schema.get("additionalProperties", True)
        for key, item in value.items():
            if key in properties:
                problems += validate(item, properties[key], f"{where}.{key}")
            elif extra is False:
                problems.append(f"{where}: unexpected property {key!r}")
            elif isinstance(extra, dict):
                problems += validate(item, extra, f"{where}.{key}")
    if isinstance(value, list) and "items" in schema:
        for index, item in enumerate(value):
            problems += validate(item, schema["items"], f"{where}[{index}]")
    return problems


def response_schema(path: str, method: str, status: int, content_type: str = "application/json"
                    ) -> dict[str, Any] | None:
    operation = load_spec()["paths"][path][method.lower()]
    response = operation["responses"].get(str(status))
    if response is None:
        raise AssertionError(f"{method} {path}: status {status} is not documented")
    if "$ref" in response:
        name = response["$ref"].rsplit("/", 1)[-1]
        response = load_spec()["components"]["responses"][name]
    content = response.get("content")
    if not content:
        return None
    schema: dict[str, Any] = content[content_type]["schema"]
    return schema
