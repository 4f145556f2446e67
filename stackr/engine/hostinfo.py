"""What the host offers a container engine, probed from /proc and /sys (for ``/info``).

Every probe reads a file or looks up a program; none changes the host. The result is
cheap enough to compute per request, except the kernel facts that cannot change while
the engine runs, which are cached.
"""

from __future__ import annotations

import os
import shutil
import sys
from functools import cache
from pathlib import Path
from typing import Any

CGROUP_ROOT = Path("/sys/fs/cgroup")
NAMESPACE_KINDS = ("cgroup", "ipc", "mnt", "net", "pid", "time", "user", "uts")


def cgroup_setup(root: Path = CGROUP_ROOT) -> tuple[str, str]:
    """(version, layout): ("2", "unified"), ("1", "hybrid") or ("1", "legacy")."""
    if (root / "cgroup.controllers").exists():
        return "2", "unified"
    if (root / "unified").is_dir():
        return "1", "hybrid"
    return "1", "legacy"


def filesystems(proc_filesystems: Path = Path("/proc/filesystems")) -> set[str]:
    try:
        lines = proc_filesystems.read_text().splitlines()
    except OSError:
        return set()
    return {line.split()[-1] for line in lines if line.strip()}


def namespaces_available() -> list[str]:
    return [kind for kind in NAMESPACE_KINDS if os.path.exists(f"/proc/self/ns/{kind}")]


def memory_total_bytes() -> int:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


@cache
def _static_facts() -> dict[str, Any]:
    cgroup_version, cgroup_layout = cgroup_setup()
    uname = os.uname()
    found_filesystems = filesystems()
    return {
        "KernelVersion": uname.release,
        "OperatingSystem": _os_name(),
        "OSType": "linux",
        "Architecture": uname.machine,
        "NCPU": os.cpu_count() or 1,
        "MemTotal": memory_total_bytes(),
        "CgroupVersion": cgroup_version,
        "CgroupDriver": "cgroupfs",
        "CgroupLayout": cgroup_layout,
        "OverlaySupported": "overlay" in found_filesystems,
        "Namespaces": namespaces_available(),
        "Nftables": shutil.which("nft") is not None,
        "Iptables": shutil.which("iptables") is not None,
        "Name": uname.nodename,
        "PythonVersion": sys.version.split()[0],
    }


def _os_name() -> str:
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return "Linux"


def host_facts() -> dict[str, Any]:
    return dict(_static_facts())
