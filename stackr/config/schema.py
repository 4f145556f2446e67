"""The JSON schema of a stack file, generated from the models.

``python -m stackr.config.schema`` prints it (deterministic: sorted keys);
``schemas/stack.schema.json`` is that output, kept in sync by a unit test. It describes
what stackr accepts, short syntax included; keys that Compose has and stackr does not
support yet are absent, so an editor flags them as stackr does.
"""

from __future__ import annotations

import json
from typing import Any

SCHEMA_ID = "https://stackr.dev/schemas/stack.schema.json"
EXTENSIONS_FIELD = "extensions"
NOT_IN_FILES = {"PortMapping": ("published_end",)}  # derived fields, not stack-file keys


_PATHS: dict[str, Any] = {"anyOf": [{"type": "string"},
                                    {"type": "array", "items": {"type": "string"}}]}
EXTENDS_SCHEMA: dict[str, Any] = {
    "description": "the service this one is made from (of this file, or of `file`)",
    "anyOf": [
        {"type": "string"},
        {"type": "object", "additionalProperties": False, "required": ["service"],
         "properties": {"service": {"type": "string"}, "file": {"type": "string"}}},
    ],
}
INCLUDE_SCHEMA: dict[str, Any] = {
    "description": "stack files whose resources this one imports",
    "type": "array",
    "items": {"anyOf": [
        {"type": "string"},
        {"type": "object", "additionalProperties": False, "required": ["path"],
         "properties": {"path": _PATHS, "project_directory": {"type": "string"},
                        "env_file": _PATHS}},
    ]},
}


def stack_schema() -> dict[str, Any]:
    from stackr.config.models_top import Stack

    schema = Stack.model_json_schema(mode="validation")
    _spell_like_files(schema)
    for definition in schema.get("$defs", {}).values():
        _spell_like_files(definition)
    for name, fields in NOT_IN_FILES.items():
        properties = schema["$defs"][name]["properties"]
        for field in fields:
            properties.pop(field, None)
    # The project name comes from -p, `name:` or the directory: optional in a file.
    _strip_extension_defaults(schema)
    _allow_interpolated_text(schema)
    restart = schema["$defs"]["Service"]["properties"]["restart"]
    restart["default"] = "no"
    # Resolved by the loader before the model sees the stack (extends.py, include.py).
    schema["$defs"]["Service"]["properties"]["extends"] = EXTENDS_SCHEMA
    schema["properties"]["include"] = INCLUDE_SCHEMA
    schema["required"] = [key for key in schema.get("required", []) if key != "name"]
    if not schema["required"]:
        del schema["required"]
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = SCHEMA_ID
    schema["title"] = "stackr stack file"
    schema["description"] = "A Compose file as stackr accepts it (the supported subset)."
    return schema


def _spell_like_files(definition: dict[str, Any]) -> None:
    """``extensions`` is the model's store for ``x-*`` keys: in a file they are keys."""
    properties = definition.get("properties")
    if isinstance(properties, dict) and EXTENSIONS_FIELD in properties:
        del properties[EXTENSIONS_FIELD]
        definition["patternProperties"] = {"^x-": {}}


def _allow_interpolated_text(node: Any) -> None:
    """``retries: ${RETRIES}`` is text until interpolation: a number or boolean key also
    accepts a string, as in the Compose schema (stackr checks the value after loading)."""
    if isinstance(node, dict):
        kind = node.get("type")
        if kind in ("integer", "number", "boolean"):
            node["type"] = [kind, "string"]
        for key, value in node.items():
            if key != "default":
                _allow_interpolated_text(value)
    elif isinstance(node, list):
        for item in node:
            _allow_interpolated_text(item)


def _strip_extension_defaults(node: Any) -> None:
    """Defaults of nested models show ``extensions: {}``: not a stack-file key."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "default":
                _drop_extensions(value)
            else:
                _strip_extension_defaults(value)
    elif isinstance(node, list):
        for item in node:
            _strip_extension_defaults(item)


def _drop_extensions(value: Any) -> None:
    if isinstance(value, dict):
        value.pop(EXTENSIONS_FIELD, None)
        for item in value.values():
            _drop_extensions(item)
    elif isinstance(value, list):
        for item in value:
            _drop_extensions(item)


def render_schema() -> str:
    return json.dumps(stack_schema(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main() -> int:
    import sys

    sys.stdout.write(render_schema())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
