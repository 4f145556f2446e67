"""nftables rules for published ports, NAT to the outside and isolation, rebuilt from records.

One table per engine state root, ``ip stackr_<hash of state_root>`` (tests and engines
side by side never touch each other's rules), holding:

``prerouting``/``output`` (nat)
    Packets addressed to a local address (``fib daddr type local``) jump to
    ``published``, which DNATs ``[ip daddr HOST_IP] tcp|udp dport HOST_PORT`` to the
    container. ``output`` covers connections made on the host itself, including to
    127.0.0.1 (the bridge has ``route_localnet`` set, see ``bridge``).
``postrouting`` (nat)
    Masquerade for traffic leaving a non-internal network's subnet to anywhere but its own
    bridge; masquerade of loopback-sourced DNAT traffic into a bridge (else the container
    would answer to its own 127.0.0.1); hairpin masquerade (a container reaching its own
    network's published port through a host address).
``forward`` (filter)
    An internal network's bridge neither forwards out nor receives from outside; then
    connections to a published port (``ct status dnat``) are accepted, from anywhere;
    then a packet from one stackr bridge to another is dropped (networks are isolated,
    whichever engine made them: the match is on the ``stkb`` prefix).

Why rebuild the whole table instead of adding and deleting rules: the records are the
truth, a rebuild is one atomic ``nft -f`` transaction (delete + add of the table, so
no packet ever sees half a ruleset), it repairs whatever a crash or an admin left, and
it is a few milliseconds for hundreds of rules. When no network and no published port
is recorded, the table is deleted.

Why ``nft`` (the command) rather than netlink from Python: pyroute2's nftables support
is partial and its rule encoding low-level; ``nft -f -`` is the stable interface. It runs
as a child by fork+exec (``subprocess``), which is safe in a threaded process.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from stackr import naming, paths
from stackr.errors import HostError, PreconditionError
from stackr.network import records

_sync_lock = threading.Lock()
BRIDGE_PATTERN = f"{naming.LINK_PREFIX}b*"


@dataclass(frozen=True)
class NetworkRule:
    bridge_ifname: str
    subnet: str
    internal: bool


@dataclass(frozen=True)
class DnatRule:
    protocol: str  # "tcp" | "udp"
    host_ip: str  # "0.0.0.0" means every local address
    host_port: int
    container_ip: str
    container_port: int


def table_name() -> str:
    return "stackr_" + naming.short_hash(str(paths.state_root()), length=8)


def nft_path() -> str | None:
    return shutil.which("nft")


def is_available() -> bool:
    """For ``stackr info``: without nft there is no NAT out and no published port."""
    return nft_path() is not None


def render_table(name: str, networks: list[NetworkRule], dnats: list[DnatRule]) -> str:
    """The whole table as nft text; pure and deterministic (sorted input → same text)."""
    lines = [f"table ip {name} {{"]
    lines += [
        "  chain prerouting {",
        "    type nat hook prerouting priority dstnat; policy accept;",
        "    fib daddr type local jump published",
        "  }",
        "  chain output {",
        "    type nat hook output priority -100; policy accept;",
        "    fib daddr type local jump published",
        "  }",
        "  chain published {",
    ]
    for rule in sorted(dnats, key=lambda r: (r.protocol, r.host_port, r.host_ip)):
        match = "" if rule.host_ip == "0.0.0.0" else f"ip daddr {rule.host_ip} "
        lines.append(
            f"    {match}{rule.protocol} dport {rule.host_port} "
            f"dnat to {rule.container_ip}:{rule.container_port}"
        )
    lines += [
        "  }",
        "  chain postrouting {",
        "    type nat hook postrouting priority srcnat; policy accept;",
    ]
    for network in sorted(networks, key=lambda n: n.bridge_ifname):
        bridge = f'"{network.bridge_ifname}"'
        lines.append(f"    oifname {bridge} ip saddr 127.0.0.0/8 masquerade")
        lines.append(f"    oifname {bridge} ip saddr {network.subnet} ct status dnat masquerade")
        if not network.internal:
            lines.append(f"    ip saddr {network.subnet} oifname != {bridge} masquerade")
    lines += [
        "  }",
        "  chain forward {",
        "    type filter hook forward priority filter; policy accept;",
    ]
    ordered = sorted(networks, key=lambda n: n.bridge_ifname)
    for network in ordered:
        if network.internal:
            bridge = f'"{network.bridge_ifname}"'
            lines.append(f"    iifname {bridge} oifname != {bridge} drop")
            lines.append(f"    oifname {bridge} iifname != {bridge} drop")
    # A published port is for everyone, containers of other networks included (as in
    # Docker): DNATed connections pass the isolation below, but not an internal bridge.
    lines.append("    ct status dnat accept")
    for network in ordered:
        if not network.internal:
            bridge = f'"{network.bridge_ifname}"'
            lines.append(
                f'    iifname {bridge} oifname != {bridge} oifname "{BRIDGE_PATTERN}" drop'
            )
    lines += ["  }", "}"]
    return "\n".join(lines) + "\n"


def _recorded_networks() -> list[NetworkRule]:
    found = []
    for path in records.list_json(records.network_root() / "networks"):
        data = records.read_json(path)
        if data is not None:
            found.append(
                NetworkRule(str(data["bridge_ifname"]), str(data["subnet"]), bool(data["internal"]))
            )
    return found


def _recorded_dnats() -> list[DnatRule]:
    # ports imports this module (it syncs the rules after each change): import late.
    from stackr.network.ports import list_published

    return [
        DnatRule(
            protocol=port.protocol,
            host_ip=port.host_ip,
            host_port=port.host_port,
            container_ip=port.container_ip,
            container_port=port.container_port,
        )
        for port in list_published()
    ]


@contextmanager
def _locked() -> Iterator[None]:
    lock_path = records.network_root() / "firewall.lock"
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with _sync_lock:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)


def _run_nft(script: str, what: str) -> None:
    nft = nft_path()
    if nft is None:
        raise PreconditionError(
            "nft (nftables) is not installed: published ports and NAT need it "
            "(apt-get install nftables)"
        )
    result = subprocess.run(
        [nft, "-f", "-"], input=script, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise HostError("nft", what, detail=result.stderr.strip() or f"exit {result.returncode}")


def sync() -> None:
    """Make the kernel's table equal to the records (create, replace or delete it)."""
    name = table_name()
    with _locked():
        networks = _recorded_networks()
        dnats = _recorded_dnats()
        if not networks and not dnats:
            remove_table()
            return
        if nft_path() is None:
            if dnats:
                _run_nft("", f"table ip {name}")  # raises the clear precondition error
            return  # networks still work on the host, just without NAT and isolation
        # "table X" first makes the delete valid when the table does not exist yet;
        # the three lines run as one transaction.
        script = f"table ip {name}\ndelete table ip {name}\n" + render_table(name, networks, dnats)
        _run_nft(script, f"table ip {name}")


def remove_table() -> None:
    """Delete this state root's table; absent (or no nft at all) is success."""
    if nft_path() is None:
        return
    name = table_name()
    _run_nft(f"table ip {name}\ndelete table ip {name}\n", f"table ip {name}")


def table_exists() -> bool:
    nft = nft_path()
    if nft is None:
        return False
    result = subprocess.run(
        [nft, "list", "table", "ip", table_name()], capture_output=True, text=True, check=False
    )
    return result.returncode == 0
