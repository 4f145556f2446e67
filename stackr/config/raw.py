"""The loader's output: merged, interpolated plain data with the position of every value.

This is the seam between loading (``loader.load_raw``) and validation
(``validate.validate_stack``): plain YAML types (dict, list, str, int, float, bool, None)
with YAML 1.2 scalars as Compose reads them (``no``, ``on``, ``22:22`` stay strings).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stackr.config.source_map import SourceMap
from stackr.errors import Diagnostic


@dataclass(frozen=True)
class RawStack:
    data: Mapping[str, Any]  # the merged, interpolated top-level mapping
    source_map: SourceMap
    files: tuple[Path, ...]  # the stack files, absolute, in merge order
    project_name: str  # already normalised (lowercase [a-z0-9_-])
    project_dir: Path  # absolute; relative paths in the file resolve against it
    environment: Mapping[str, str]  # what interpolation saw: .env overlaid by the process env
    profiles: tuple[str, ...]  # active profiles (--profile, else COMPOSE_PROFILES)
    warnings: tuple[Diagnostic, ...] = field(default=())
    referenced_files: tuple[Path, ...] = ()  # other files read for ``extends`` and ``include``
