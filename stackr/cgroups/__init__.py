"""cgroups for containers: detect the host's setup, open the right manager.

``detect_setup(root)`` reads the layout under ``root`` (youki's
``get_cgroup_setup_with_root``), by files rather than filesystem magic so that unit
tests aim it at a fake hierarchy in a temporary directory. A *hybrid* host (v1
controllers plus an empty cgroup2 at ``unified``, as these machines have) is driven
through v1, where its controllers are.
"""

from __future__ import annotations

import enum
from pathlib import Path

from stackr.cgroups.base import CgroupStats
from stackr.errors import PreconditionError

TYPE_CHECKING = False  # mypy reads True: typing is not imported at run time
if TYPE_CHECKING:
    from typing import Any

    from stackr.cgroups.base import CgroupManager

CGROUP_ROOT = Path("/sys/fs/cgroup")


class CgroupSetup(enum.Enum):
    LEGACY = "v1"  # one hierarchy per controller
    HYBRID = "hybrid"  # v1 controllers + a cgroup2 mount at <root>/unified
    UNIFIED = "v2"  # one hierarchy, cgroup.controllers at the root


def detect_setup(root: Path = CGROUP_ROOT) -> CgroupSetup:
    if (root / "cgroup.controllers").exists():
        return CgroupSetup.UNIFIED
    if any((root / name / "cgroup.procs").exists() for name in ("memory", "pids", "cpu")):
        if (root / "unified" / "cgroup.controllers").exists():
            return CgroupSetup.HYBRID
        return CgroupSetup.LEGACY
    raise PreconditionError(f"no cgroup hierarchy found under {root}")


def open_manager(
    container_id: str, root: Path = CGROUP_ROOT, setup: CgroupSetup | None = None
) -> CgroupManager:
    """The manager of one container's cgroup on this host (nothing is created yet)."""
    from stackr.cgroups.v1 import V1Manager
    from stackr.cgroups.v2 import V2Manager

    setup = setup or detect_setup(root)
    if setup is CgroupSetup.UNIFIED:
        return V2Manager(container_id, root)
    return V1Manager(container_id, root)


def open_manager_from(description: dict[str, Any]) -> CgroupManager:
    """Rebuild a manager from its ``describe()`` record (in another process)."""
    from stackr.cgroups.v1 import V1Manager
    from stackr.cgroups.v2 import V2Manager

    driver = V2Manager if description["driver"] == "v2" else V1Manager
    return driver(description["container_id"], Path(description["root"]))


__all__ = [
    "CGROUP_ROOT",
    "CgroupManager",
    "CgroupSetup",
    "CgroupStats",
    "detect_setup",
    "open_manager",
    "open_manager_from",
]
