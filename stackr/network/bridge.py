"""Stack networks: one Linux bridge each, with the gateway address and NAT/isolation rules.

``ensure_network(spec)`` is idempotent: the subnet is leased (IPAM) and the
``NetworkState`` record written *before* the bridge exists, then the bridge is created,
given the gateway address and brought up, and the firewall table is rebuilt from the
records. Calling it again re-creates whatever a crash or an admin removed.
``remove_network`` refuses while containers are attached (as Docker does: "network has
active endpoints") and otherwise removes the bridge, the rules, the lease and the record;
an absent network is success.

The bridge's name is ``stkb`` + a hash of the state root and the network id, so it is
recomputable from the id, fits IFNAMSIZ and never collides with another project's.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path

from stackr import naming, paths
from stackr.beside import beside
from stackr.errors import HostError, StackrError
from stackr.network import firewall, records
from stackr.network.ipam import (
    AddressPool,
    IpamStore,
    SubnetRequest,
    allocate_subnet,
    default_pool,
    host_networks_from,
    release_subnet,
)
from stackr.network.netlink import Netlink, host_netlink


class NetworkInUseError(StackrError):
    """A network cannot be removed while containers are attached to it."""


@dataclass(frozen=True)
class NetworkSpec:
    """What the engine asks for: one stack network (``external`` ones never get here)."""

    network_id: str  # engine-wide unique and stable, e.g. "myproject_backend"
    name: str = ""  # the stack file's name, for messages and DNS scoping only
    internal: bool = False
    ipam: SubnetRequest = field(default_factory=SubnetRequest)


@dataclass(frozen=True)
class NetworkState:
    """A network as made: what attach, publish and the resolver need to know."""

    network_id: str
    name: str
    bridge_ifname: str
    subnet: str  # "10.213.0.0/24"
    gateway: str  # "10.213.0.1"
    internal: bool

    @property
    def prefixlen(self) -> int:
        return int(self.subnet.split("/")[1])

    def to_json(self) -> dict[str, object]:
        return {
            "network_id": self.network_id,
            "name": self.name,
            "bridge_ifname": self.bridge_ifname,
            "subnet": self.subnet,
            "gateway": self.gateway,
            "internal": self.internal,
        }

    @classmethod
    def from_json(cls, data: dict[str, object]) -> NetworkState:
        return cls(
            network_id=str(data["network_id"]),
            name=str(data["name"]),
            bridge_ifname=str(data["bridge_ifname"]),
            subnet=str(data["subnet"]),
            gateway=str(data["gateway"]),
            internal=bool(data["internal"]),
        )


def bridge_ifname(network_id: str) -> str:
    # The state root is hashed in too: two engines (or two test runs) with different
    # roots may use the same network id without fighting over one bridge.
    return naming.link_name("b", str(paths.state_root()), network_id)


def _record_path(network_id: str) -> Path:
    return records.network_root() / "networks" / f"{network_id}.json"


def ipam_store() -> IpamStore:
    return IpamStore(records.network_root())


def load_network(network_id: str) -> NetworkState | None:
    data = records.read_json(_record_path(records.check_id("network", network_id)))
    return NetworkState.from_json(data) if data is not None else None


def list_networks() -> list[NetworkState]:
    found = []
    for path in records.list_json(records.network_root() / "networks"):
        data = records.read_json(path)
        if data is not None:
            found.append(NetworkState.from_json(data))
    return found


def _write_sysctl(key: str, value: str) -> None:
    path = Path("/proc/sys", *key.split("."))
    with contextlib.suppress(OSError):
        if path.read_text().strip() == value:
            return
    path.write_text(value)


def ensure_network(
    spec: NetworkSpec,
    netlink: Netlink | None = None,
    pool: AddressPool | None = None,
    *,
    host_rules: bool = True,
) -> NetworkState:
    """Make (or repair) the network; ``host_rules=False`` skips sysctls and nftables
    (unit tests with the recording netlink check the netlink sequence and records alone)."""
    records.check_id("network", spec.network_id)
    if netlink is None:
        return ensure_network(spec, host_netlink(), pool, host_rules=host_rules)
    ifname = bridge_ifname(spec.network_id)
    addresses, routes = netlink.ipv4_networks()
    host_networks = host_networks_from(addresses, routes)
    chosen_pool = pool or default_pool()
    lease = ipam_store().update(
        lambda state: allocate_subnet(state, spec.network_id, spec.ipam, chosen_pool, host_networks)
    )
    state = NetworkState(
        network_id=spec.network_id,
        name=spec.name or spec.network_id,
        bridge_ifname=ifname,
        subnet=str(lease.subnet),
        gateway=str(lease.gateway),
        internal=spec.internal,
    )
    recorded = load_network(spec.network_id)
    if recorded != state:
        records.write_json_atomic(_record_path(spec.network_id), state.to_json())
    try:
        _make(netlink, state, spec.internal, host_rules)
    except BaseException as error:
        if recorded is None:
            # a failed create removes what it made (bridge, lease, record), then reports
            try:
                remove_network(spec.network_id, netlink, host_rules=host_rules)
            except Exception as cleanup_error:
                error.add_note(f"cleaning up the network failed too: {cleanup_error}")
        raise
    return state


def _make(netlink: Netlink, state: NetworkState, internal: bool, host_rules: bool) -> None:
    ifname = state.bridge_ifname
    netlink.add_bridge(ifname)
    netlink.add_address(ifname, state.gateway, state.prefixlen)
    netlink.set_up(ifname)
    if host_rules:
        # A published port reached at 127.0.0.1 is DNATed to the container with its
        # loopback source kept; the kernel drops such packets on any interface without
        # route_localnet (martian source). Masquerade then rewrites the source.
        _write_sysctl(f"net.ipv4.conf.{ifname}.route_localnet", "1")
        if not internal:
            # Routing out (NAT) and published ports from other hosts need forwarding;
            # Docker turns it on the same way. Isolation is the firewall's job.
            _write_sysctl("net.ipv4.ip_forward", "1")
        firewall.sync()


def _unlist(netlink: Netlink, going: list[str]) -> None:
    """The bridge (first) and its last ports; a port that fails to go is left to its
    namespace, which takes it in its own time: only the bridge's failure counts."""
    try:
        netlink.unlist_links(going)
    except HostError:
        if netlink.link_exists(going[0]):
            raise


def attached_containers(network_id: str) -> list[str]:
    """The ids of the containers with an attachment to the network (from the records)."""
    return sorted(
        path.parent.name
        for path in (records.network_root() / "attachments").glob(f"*/{network_id}.json")
    )


def remove_network(
    network_id: str, netlink: Netlink | None = None, *, host_rules: bool = True
) -> None:
    records.check_id("network", network_id)
    if netlink is None:
        return remove_network(network_id, host_netlink(), host_rules=host_rules)
    attached = attached_containers(network_id)
    if attached:
        raise NetworkInUseError(
            f"network {network_id} still has containers attached: {', '.join(attached)}"
        )
    record = _record_path(network_id)
    # With no attachment left, its remaining ports are veths going with their released
    # namespaces (``attach.release_sandbox``). The kernel's namespace cleanup takes a
    # normal RCU grace period or more (10-70 ms in a teardown); a deletion unlists a
    # link in a few ms: they go with the bridge, in one wait.
    going = [bridge_ifname(network_id), *netlink.bridge_ports(bridge_ifname(network_id))]
    if not host_rules:
        _unlist(netlink, going)
    else:
        # The firewall table is rebuilt from the records: drop ours first, keep the file
        # until the rules are gone so a crash here is finished by the next remove.
        removing = record.with_suffix(".removing")
        with contextlib.suppress(FileNotFoundError):
            record.rename(removing)
        try:
            # The rules (an nft transaction, 10-30 ms) go while the links do.
            beside(firewall.sync, lambda: _unlist(netlink, going))
        except BaseException:
            # The network stays whole for the next try: its record, then its rules.
            with contextlib.suppress(FileNotFoundError):
                removing.rename(record)
            with contextlib.suppress(StackrError):
                firewall.sync()
            raise
        records.remove_file(removing)
    ipam_store().update(lambda state: (release_subnet(state, network_id), None))
    records.remove_file(record)
