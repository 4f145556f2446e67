"""A snapshot of the host objects a stackr test could leave behind, for leak checks.

Only objects that are recognisably stackr's are counted: mounts below the test's own
state directories, links and netns whose name
starts with stackr's prefixes, cgroup directories named "stackr*" and processes whose
command line or environment names the test's state directories. Tests of other
sessions on the same machine disturb the check only through links, cgroups and nft
tables, whose names do not say which state root made them (CI runs tests one by one).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

# Interface names stackr makes start with this (see stackr.naming).
LINK_PREFIXES = ("stk",)
CGROUP_ROOT = Path("/sys/fs/cgroup")


@dataclass(frozen=True)
class HostSnapshot:
    mounts: frozenset[str]
    links: frozenset[str]
    cgroups: frozenset[str]
    processes: frozenset[str]
    nft_tables: frozenset[str] = frozenset()

    def minus(self, other: HostSnapshot) -> HostSnapshot:
        return HostSnapshot(
            self.mounts - other.mounts,
            self.links - other.links,
            self.cgroups - other.cgroups,
            self.processes - other.processes,
            self.nft_tables - other.nft_tables,
        )

    def own_only(self) -> HostSnapshot:
        """Only what names the test's own state dirs: its mounts and processes."""
        return HostSnapshot(self.mounts, frozenset(), frozenset(), self.processes)

    def is_empty(self) -> bool:
        return not (self.mounts or self.links or self.cgroups or self.processes or self.nft_tables)

    def describe(self) -> str:
        lines = []
        for kind in ("mounts", "links", "cgroups", "processes", "nft_tables"):
            for entry in sorted(getattr(self, kind)):
                lines.append(f"  {kind[:-1]}: {entry}")
        return "\n".join(lines)


def _mounts(dirs: tuple[Path, ...]) -> frozenset[str]:
    found = set()
    with open("/proc/self/mountinfo") as mountinfo:
        for line in mountinfo:
            fields = line.split()
            target = fields[4]
            if any(target.startswith(str(d)) for d in dirs):
                found.add(target)
    return frozenset(found)


def _links() -> frozenset[str]:
    try:
        names = os.listdir("/sys/class/net")
    except OSError:
        return frozenset()
    return frozenset(n for n in names if n.startswith(LINK_PREFIXES))


def _cgroups() -> frozenset[str]:
    found = set()
    if not CGROUP_ROOT.is_dir():
        return frozenset()
    for hierarchy in CGROUP_ROOT.iterdir():
        try:
            for child in hierarchy.iterdir():
                if child.is_dir() and child.name.startswith("stackr"):
                    found.add(str(child))  # the shared parent goes with its last cgroup
                    for sub in child.rglob("*"):
                        if sub.is_dir():
                            found.add(str(sub))
        except OSError:
            continue
    return frozenset(found)


def _processes(dirs: tuple[Path, ...]) -> frozenset[str]:
    found = set()
    needles = [str(d).encode() for d in dirs]
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
            environ = Path(f"/proc/{entry}/environ").read_bytes()
        except OSError:
            continue
        if any(n in cmdline or n in environ for n in needles):
            command = cmdline.replace(b"\0", b" ").decode(errors="replace")
            found.add(f"{entry} {command}")
    return frozenset(found)


def _nft_tables() -> frozenset[str]:
    """nftables tables named stackr_* (the network code makes one per state root)."""
    nft = shutil.which("nft")
    if nft is None:
        return frozenset()
    listing = subprocess.run([nft, "list", "tables"], capture_output=True, text=True, check=False)
    return frozenset(line.strip() for line in listing.stdout.splitlines() if " stackr_" in line)


def take_snapshot(dirs: tuple[Path, Path]) -> HostSnapshot:
    return HostSnapshot(_mounts(dirs), _links(), _cgroups(), _processes(dirs), _nft_tables())
