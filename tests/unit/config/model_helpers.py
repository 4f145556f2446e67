"""Build ``RawStack``s for the model tests without going through the loader."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from stackr.config.models import Service, Stack
from stackr.config.raw import RawStack
from stackr.config.source_map import SourceMap
from stackr.config.validate import validate_stack
from stackr.errors import Diagnostic, StackFileError

PROJECT_DIR = Path("/project")


def raw_stack(data: Any, source_map: SourceMap | None = None) -> RawStack:
    if isinstance(data, str):
        data = yaml.safe_load(data)
    return RawStack(
        data=data,
        source_map=source_map or SourceMap(),
        files=(PROJECT_DIR / "compose.yaml",),
        project_name="demo",
        project_dir=PROJECT_DIR,
        environment={},
        profiles=(),
    )


def stack_of(data: Any) -> Stack:
    stack, _ = validate_stack(raw_stack(data))
    return stack


def service_of(service: dict[str, Any]) -> Service:
    """The validated service ``web`` of a stack made of just it."""
    return stack_of({"services": {"web": {"image": "nginx", **service}}}).services["web"]


def problems_of(data: Any) -> list[str]:
    """Every diagnostic of an invalid stack, rendered without a position."""
    try:
        validate_stack(raw_stack(data))
    except StackFileError as error:
        return [render(d) for d in error.diagnostics]
    raise AssertionError("the stack was accepted")


def service_problems(service: dict[str, Any]) -> list[str]:
    return problems_of({"services": {"web": {"image": "nginx", **service}}})


def render(diagnostic: Diagnostic) -> str:
    text = f"{diagnostic.path}: {diagnostic.message}" if diagnostic.path else diagnostic.message
    return f"{text} ({diagnostic.hint})" if diagnostic.hint else text
