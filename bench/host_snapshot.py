"""What a Docker daemon could change on this host, recorded before and after a benchmark.

A default dockerd sets the iptables FORWARD policy to DROP, adds its chains, loads
br_netfilter, makes ``docker0``, turns on ip_forward and leaves state under /var/lib and
/run. The benchmark's private dockerd is started so that it does none of that; these
snapshots check it. Other helpers' stackr tests run on the same host at the same time,
so their objects (links ``stk*``, cgroups ``stackr*``, nftables tables ``stackr_*``) come
and go independently and are left out of the comparison.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass, fields
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
BRIDGE_SYSCTLS = Path("/proc/sys/net/bridge")
WATCHED_SYSCTLS = (
    "/proc/sys/net/ipv4/ip_forward",
    "/proc/sys/net/bridge/bridge-nf-call-iptables",
    "/proc/sys/net/bridge/bridge-nf-call-ip6tables",
)
# Where a Docker or containerd started with defaults keeps state; none may appear.
DOCKER_PATHS = (
    "/var/lib/docker",
    "/var/lib/containerd",
    "/run/docker",
    "/run/docker.sock",
    "/run/containerd",
    "/etc/docker/key.json",
    "/opt/containerd",
)
OTHERS_LINK_PREFIX = "stk"  # stackr's own links (stackr.naming.LINK_PREFIX)
OTHERS_CGROUP_PREFIX = "stackr"  # stackr's cgroup parent (stackr.naming.CGROUP_PARENT)
OTHERS_NFT_PREFIX = "stackr_"  # stackr's nftables tables (stackr.network.firewall)


@dataclass(frozen=True)
class HostSnapshot:
    iptables_filter: tuple[str, ...]
    iptables_nat: tuple[str, ...]
    nft_tables: tuple[str, ...]
    link_names: tuple[str, ...]
    bridge_netfilter_loaded: bool
    sysctls: tuple[str, ...]
    top_level_cgroups: tuple[str, ...]
    docker_paths: tuple[str, ...]

    def summary(self) -> str:
        return (
            f"iptables filter {len(self.iptables_filter)} lines "
            f"({', '.join(line for line in self.iptables_filter if line.startswith('-P'))}), "
            f"nat {len(self.iptables_nat)} lines, nft tables {list(self.nft_tables)}, "
            f"links {list(self.link_names)}, /proc/sys/net/bridge "
            f"{'present' if self.bridge_netfilter_loaded else 'absent'}, "
            f"{', '.join(self.sysctls)}, Docker paths present {list(self.docker_paths)}"
        )


def _lines(command: list[str]) -> tuple[str, ...]:
    if shutil.which(command[0]) is None:
        return (f"({command[0]} not installed)",)
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        return (f"({' '.join(command)} failed: {result.stderr.strip()})",)
    return tuple(line for line in result.stdout.splitlines() if line.strip())


def _link_names() -> tuple[str, ...]:
    names = []
    for line in _lines(["ip", "-o", "link", "show"]):
        # "6347: br-1ffa01eada32: <BROADCAST,..." or "6349: vethd65d096@if6348: ..."
        parts = line.split(":", 2)
        if len(parts) < 3:
            continue
        name = parts[1].strip().split("@", 1)[0]
        if not name.startswith(OTHERS_LINK_PREFIX):
            names.append(name)
    return tuple(sorted(names))


def _nft_tables() -> tuple[str, ...]:
    tables = []
    for line in _lines(["nft", "list", "tables"]):
        # "table ip stackr_1a2b3c"
        words = line.split()
        if words[-1].startswith(OTHERS_NFT_PREFIX):
            continue
        tables.append(" ".join(words[1:]))
    return tuple(sorted(tables))


def _top_level_cgroups() -> tuple[str, ...]:
    found = []
    if CGROUP_ROOT.is_dir():
        for hierarchy in sorted(CGROUP_ROOT.iterdir()):
            if hierarchy.is_symlink() or not hierarchy.is_dir():
                continue
            for child in sorted(hierarchy.iterdir()):
                if child.is_dir() and not child.name.startswith(OTHERS_CGROUP_PREFIX):
                    found.append(f"{hierarchy.name}/{child.name}")
    return tuple(found)


def _sysctls() -> tuple[str, ...]:
    values = []
    for path in WATCHED_SYSCTLS:
        try:
            value = Path(path).read_text().strip()
        except OSError:
            value = "absent"
        values.append(f"{path.removeprefix('/proc/sys/')}={value}")
    return tuple(values)


def take() -> HostSnapshot:
    return HostSnapshot(
        iptables_filter=_lines(["iptables", "-S"]),
        iptables_nat=_lines(["iptables", "-t", "nat", "-S"]),
        nft_tables=_nft_tables(),
        link_names=_link_names(),
        bridge_netfilter_loaded=BRIDGE_SYSCTLS.is_dir(),
        sysctls=_sysctls(),
        top_level_cgroups=_top_level_cgroups(),
        docker_paths=tuple(path for path in DOCKER_PATHS if Path(path).exists()),
    )


def differences(before: HostSnapshot, after: HostSnapshot) -> list[str]:
    """One line per field that changed, naming what appeared and what went."""
    changes = []
    for field in fields(HostSnapshot):
        old, new = getattr(before, field.name), getattr(after, field.name)
        if old == new:
            continue
        if isinstance(old, tuple) and isinstance(new, tuple):
            added = [item for item in new if item not in old]
            removed = [item for item in old if item not in new]
            changes.append(f"{field.name}: added {added}, removed {removed}")
        else:
            changes.append(f"{field.name}: {old!r} -> {new!r}")
    return changes
