"""Helpers for the loader tests: write a small project into a directory and load it."""

from __future__ import annotations

import textwrap
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from stackr.config.loader import LoadOptions, load_raw
from stackr.config.raw import RawStack
from stackr.errors import StackFileError


def write_files(root: Path, files: Mapping[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))


def load(root: Path, contents: Mapping[str, str], /, **options: Any) -> RawStack:
    """Write ``contents`` (name → text) under ``root`` and load (cwd=root, empty environ);
    ``files=("a.yml", …)`` are the ``-f`` options."""
    write_files(root, contents)
    options.setdefault("cwd", root)
    options.setdefault("environ", {})
    if "files" in options:
        options["files"] = tuple(Path(name) for name in options["files"])
    return load_raw(LoadOptions(**options))


def errors_of(root: Path, contents: Mapping[str, str], /, **options: Any) -> list[str]:
    """The rendered diagnostics of a load that must fail."""
    with pytest.raises(StackFileError) as caught:
        load(root, contents, **options)
    return [diagnostic.render() for diagnostic in caught.value.diagnostics]
