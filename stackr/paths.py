"""Where stackr keeps its state on the host (../shared/DESIGN.md §5).

Persistent data (images, volumes, records) lives under ``STACKR_ROOT`` (default
``/var/lib/stackr``); runtime data (sockets, bundles, netns files, locks) under
``STACKR_RUN`` (default ``/run/stackr``). Every caller asks these functions, never the
defaults directly, so tests can move both to a temporary place and forbid the defaults.
"""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_ROOT = Path("/var/lib/stackr")
DEFAULT_RUN = Path("/run/stackr")


def state_root() -> Path:
    """Persistent data: images, volumes, project records."""
    return _path(os.environ.get("STACKR_ROOT"), DEFAULT_ROOT)


def run_root() -> Path:
    """Runtime data, cleared by a reboot: engine socket, container bundles, netns files."""
    return _path(os.environ.get("STACKR_RUN"), DEFAULT_RUN)


_parsed: dict[str, Path] = {}


def _path(value: str | None, default: Path) -> Path:
    # Parsed once per value: the engine asks a few hundred times per container, and a
    # pathlib parse is most of what each asking costs.
    if not value:
        return default
    path = _parsed.get(value)
    if path is None:
        path = _parsed[value] = Path(value)
    return path
