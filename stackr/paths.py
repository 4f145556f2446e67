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
    value = os.environ.get("STACKR_ROOT")
    return Path(value) if value else DEFAULT_ROOT


def run_root() -> Path:
    """Runtime data, cleared by a reboot: engine socket, container bundles, netns files."""
    value = os.environ.get("STACKR_RUN")
    return Path(value) if value else DEFAULT_RUN
