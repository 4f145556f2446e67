"""schemas/stack.schema.json is generated from the models and must stay in sync."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from stackr.config.schema import render_schema, stack_schema

ROOT = Path(__file__).resolve().parents[3]
SCHEMA_FILE = ROOT / "schemas" / "stack.schema.json"


def test_schema_file_is_up_to_date() -> None:
    assert SCHEMA_FILE.read_text() == render_schema(), (
        "schemas/stack.schema.json is out of date: "
        "python -m stackr.config.schema > schemas/stack.schema.json"
    )


def test_schema_is_deterministic() -> None:
    assert render_schema() == render_schema()


def test_module_prints_the_schema() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "stackr.config.schema"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout == SCHEMA_FILE.read_text()


def test_schema_spells_keys_like_a_stack_file() -> None:
    schema = stack_schema()
    assert "required" not in schema  # the project name is optional in a file
    assert schema["patternProperties"] == {"^x-": {}}
    service = schema["$defs"]["Service"]
    assert "extensions" not in service["properties"]
    assert service["patternProperties"] == {"^x-": {}}
    assert service["additionalProperties"] is False
    assert "published_end" not in schema["$defs"]["PortMapping"]["properties"]
    assert "extensions" not in json.dumps(schema)


def test_schema_accepts_short_syntax() -> None:
    service = stack_schema()["$defs"]["Service"]["properties"]
    port_items = service["ports"]["anyOf"][0]["items"]["anyOf"]
    assert {"type": ["integer", "string"]} in port_items and {"type": "string"} in port_items
    command_types = json.dumps(service["command"])
    assert '"string"' in command_types and '"array"' in command_types
    assert "unsupported" not in service and "extends" in service


def test_interpolated_text_is_allowed_where_numbers_go() -> None:
    service = stack_schema()["$defs"]["Service"]["properties"]
    assert service["privileged"]["type"] == ["boolean", "string"]
    limits = stack_schema()["$defs"]["ResourceLimits"]["properties"]
    assert {"type": ["integer", "string"]} in limits["pids"]["anyOf"]
