"""IP address management: subnets for networks, addresses for attachments (pure + one store).

The decisions are pure functions over an immutable ``IpamState``; ``IpamStore`` only
reads and writes that state atomically (temp file + rename) under an exclusive
``flock``, so that every engine thread and every stackr process sharing a state root
serialises its allocations and many projects side by side never receive one subnet
twice.

Subnets
    A network either asks for a subnet (``ipam.config[].subnet``, optional ``gateway``
    and ``ip_range``) or gets the first free one from the address pool: the pool's base
    network cut into subnets of ``prefixlen`` (default ``10.213.0.0/16`` in ``/24``s).
    ``10.213/16`` is chosen to stay clear of the ranges that usually exist on hosts
    already: Docker's default pools (172.17-31/16, 192.168/16), Podman's 10.88/10.89,
    OpenVPN's 10.8/24, Tailscale/CGNAT's 100.64/10. ``STACKR_ADDRESS_POOL`` (e.g.
    ``10.213.0.0/16,24``) changes it. A pool subnet is skipped when it overlaps any host
    route or address (read through netlink by the caller) or another network's subnet.

Addresses
    The gateway is the subnet's first host unless given. Container addresses come from
    ``ip_range`` (or the whole subnet), skipping network, broadcast and gateway. Every
    address is leased to an *owner* key chosen by the caller; the engine uses a key
    that survives recreation (``service:web:1``), and a released address is remembered
    as that owner's *sticky* address, so a recreated container gets the same address
    back when it is still free (Compose users hard-code less than they think, but
    caches and logs read better with stable addresses).
"""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import json
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path
from typing import Any, TypeVar

from stackr.errors import StackrError, StateError
from stackr.statefile import encode_json, write_atomic

DEFAULT_POOL_BASE = "10.213.0.0/16"
DEFAULT_POOL_PREFIXLEN = 24
POOL_ENV = "STACKR_ADDRESS_POOL"
STATE_VERSION = 1

T = TypeVar("T")


class IpamError(StackrError):
    """A subnet or address cannot be given as asked (exhausted pool, overlap, out of range)."""


@dataclass(frozen=True)
class AddressPool:
    """Where networks without an explicit subnet get theirs: ``base`` cut into /``prefixlen``."""

    base: IPv4Network
    prefixlen: int

    def __post_init__(self) -> None:
        if not self.base.prefixlen <= self.prefixlen <= 30:
            raise IpamError(
                f"address pool {self.base}: subnet size /{self.prefixlen} must be between "
                f"/{self.base.prefixlen} and /30"
            )

    def subnets(self) -> Iterator[IPv4Network]:
        return self.base.subnets(new_prefix=self.prefixlen)


def parse_pool(text: str) -> AddressPool:
    """``"10.213.0.0/16,24"`` (or just ``"10.213.0.0/16"``, cut into /24s)."""
    base_text, _, size_text = text.partition(",")
    try:
        base = IPv4Network(base_text.strip(), strict=True)
        prefixlen = (
            int(size_text) if size_text.strip() else max(DEFAULT_POOL_PREFIXLEN, base.prefixlen)
        )
    except ValueError as error:
        raise IpamError(f"address pool {text!r} is not BASE/LEN[,SUBNET_LEN]: {error}") from None
    return AddressPool(base, prefixlen)


def default_pool() -> AddressPool:
    return parse_pool(os.environ.get(POOL_ENV) or f"{DEFAULT_POOL_BASE},{DEFAULT_POOL_PREFIXLEN}")


@dataclass(frozen=True)
class SubnetRequest:
    """A network's ``ipam.config`` entry; every field optional."""

    subnet: str | None = None
    gateway: str | None = None
    ip_range: str | None = None


@dataclass(frozen=True)
class NetworkLease:
    """One network's subnet and the addresses leased in it, by owner key."""

    network_id: str
    subnet: IPv4Network
    gateway: IPv4Address
    ip_range: IPv4Network | None = None
    addresses: Mapping[str, IPv4Address] = field(default_factory=dict)
    sticky: Mapping[str, IPv4Address] = field(default_factory=dict)

    @property
    def prefixlen(self) -> int:
        return self.subnet.prefixlen


@dataclass(frozen=True)
class IpamState:
    networks: Mapping[str, NetworkLease] = field(default_factory=dict)


def _overlaps_any(subnet: IPv4Network, others: Iterable[IPv4Network]) -> IPv4Network | None:
    for other in others:
        if subnet.overlaps(other):
            return other
    return None


def _parse_network(text: str, what: str, network_id: str) -> IPv4Network:
    try:
        return IPv4Network(text, strict=True)
    except ValueError as error:
        raise IpamError(
            f"network {network_id}: {what} {text!r} is not an IPv4 subnet: {error}"
        ) from None


def _parse_address(text: str, what: str, network_id: str) -> IPv4Address:
    try:
        return IPv4Address(text)
    except ValueError as error:
        raise IpamError(
            f"network {network_id}: {what} {text!r} is not an IPv4 address: {error}"
        ) from None


def allocate_subnet(
    state: IpamState,
    network_id: str,
    request: SubnetRequest,
    pool: AddressPool,
    host_networks: Iterable[IPv4Network],
) -> tuple[IpamState, NetworkLease]:
    """Lease a subnet to ``network_id`` (idempotent: an existing lease is returned as is).

    ``host_networks`` are the host's routes and addresses (as networks); an explicit
    subnet that overlaps one of them is refused, as Docker refuses it, because the
    host would route the network's traffic somewhere else.
    """
    existing = state.networks.get(network_id)
    if existing is not None:
        return state, existing
    host_networks = [n for n in host_networks if n.prefixlen > 0]  # a default route overlaps all
    taken = [lease.subnet for lease in state.networks.values()]
    if request.subnet is not None:
        subnet = _parse_network(request.subnet, "subnet", network_id)
        clash = _overlaps_any(subnet, taken)
        if clash is not None:
            owner = next(n for n, lease in state.networks.items() if lease.subnet == clash)
            raise IpamError(
                f"network {network_id}: subnet {subnet} overlaps {clash} of network {owner}"
            )
        clash = _overlaps_any(subnet, host_networks)
        if clash is not None:
            raise IpamError(
                f"network {network_id}: subnet {subnet} overlaps the host's route/address {clash}"
            )
    elif request.gateway is not None or request.ip_range is not None:
        raise IpamError(f"network {network_id}: ipam gateway/ip_range need a subnet")
    else:
        found = None
        for candidate in pool.subnets():
            if _overlaps_any(candidate, taken) or _overlaps_any(candidate, host_networks):
                continue
            found = candidate
            break
        if found is None:
            raise IpamError(
                f"network {network_id}: address pool {pool.base} has no free /{pool.prefixlen} "
                f"left (set {POOL_ENV} or give the network an ipam subnet)"
            )
        subnet = found
    if subnet.num_addresses < 4:
        raise IpamError(f"network {network_id}: subnet {subnet} is too small (at least /30)")
    if request.gateway is not None:
        gateway = _parse_address(request.gateway, "gateway", network_id)
        if gateway not in subnet or gateway in (subnet.network_address, subnet.broadcast_address):
            raise IpamError(
                f"network {network_id}: gateway {gateway} is not a host of subnet {subnet}"
            )
    else:
        gateway = subnet.network_address + 1
    ip_range = None
    if request.ip_range is not None:
        ip_range = _parse_network(request.ip_range, "ip_range", network_id)
        if not ip_range.subnet_of(subnet):
            raise IpamError(
                f"network {network_id}: ip_range {ip_range} is not inside subnet {subnet}"
            )
    lease = NetworkLease(network_id, subnet, gateway, ip_range)
    return IpamState({**state.networks, network_id: lease}), lease


def release_subnet(state: IpamState, network_id: str) -> IpamState:
    """Forget a network's lease and all its addresses; absent is success."""
    return IpamState({k: v for k, v in state.networks.items() if k != network_id})


def _lease_of(state: IpamState, network_id: str) -> NetworkLease:
    lease = state.networks.get(network_id)
    if lease is None:
        raise IpamError(f"network {network_id} has no subnet (was it created?)")
    return lease


def _is_usable(lease: NetworkLease, address: IPv4Address) -> bool:
    subnet = lease.subnet
    return address in subnet and address not in (
        subnet.network_address,
        subnet.broadcast_address,
        lease.gateway,
    )


def allocate_address(
    state: IpamState, network_id: str, owner: str, requested: str | None = None
) -> tuple[IpamState, IPv4Address]:
    """Lease an address in ``network_id`` to ``owner``.

    ``requested`` (a static ``ipv4_address``) must be a free host of the subnet; it may
    lie outside ``ip_range`` (Docker allows that, and it is how users keep static
    addresses out of the dynamic range). Otherwise the owner's current address, then its
    sticky address if still free, then the first free address of the range.
    """
    lease = _lease_of(state, network_id)
    in_use = {address: holder for holder, address in lease.addresses.items()}
    current = lease.addresses.get(owner)
    if requested is not None:
        address = _parse_address(requested, "ipv4_address", network_id)
        if not _is_usable(lease, address):
            raise IpamError(
                f"network {network_id}: ipv4_address {address} is not a usable address of "
                f"subnet {lease.subnet} (gateway {lease.gateway})"
            )
        holder = in_use.get(address)
        if holder is not None and holder != owner:
            raise IpamError(
                f"network {network_id}: ipv4_address {address} is already used by {holder}"
            )
    elif current is not None:
        return state, current
    else:
        sticky = lease.sticky.get(owner)
        if sticky is not None and sticky not in in_use and _is_usable(lease, sticky):
            address = sticky
        else:
            address = _first_free(lease, in_use)
    addresses = {**lease.addresses, owner: address}
    sticky_map = {k: v for k, v in lease.sticky.items() if k != owner}
    new_lease = replace(lease, addresses=addresses, sticky=sticky_map)
    return IpamState({**state.networks, network_id: new_lease}), address


def _first_free(lease: NetworkLease, in_use: Mapping[IPv4Address, str]) -> IPv4Address:
    # Addresses remembered as another owner's sticky address are taken last, so a
    # recreated container finds its address again even when others came and went.
    reserved = set(lease.sticky.values())
    span = lease.ip_range or lease.subnet
    fallback = None
    # every address of the span: ip_range's own network/broadcast addresses are usable
    # hosts of the subnet; _is_usable drops the subnet's network, broadcast and gateway
    for address in span:
        if address in in_use or not _is_usable(lease, address):
            continue
        if address not in reserved:
            return address
        if fallback is None:
            fallback = address
    if fallback is not None:
        return fallback
    raise IpamError(f"network {lease.network_id}: no free address left in {span}")


def release_address(state: IpamState, network_id: str, owner: str) -> IpamState:
    """Give ``owner``'s address back (remembered as sticky); absent is success."""
    lease = state.networks.get(network_id)
    if lease is None or owner not in lease.addresses:
        return state
    address = lease.addresses[owner]
    addresses = {k: v for k, v in lease.addresses.items() if k != owner}
    new_lease = replace(lease, addresses=addresses, sticky={**lease.sticky, owner: address})
    return IpamState({**state.networks, network_id: new_lease})


# --- persistence -------------------------------------------------------------------------


def state_to_json(state: IpamState) -> dict[str, Any]:
    return {
        "version": STATE_VERSION,
        "networks": {
            network_id: {
                "subnet": str(lease.subnet),
                "gateway": str(lease.gateway),
                "ip_range": str(lease.ip_range) if lease.ip_range else None,
                "addresses": {k: str(v) for k, v in sorted(lease.addresses.items())},
                "sticky": {k: str(v) for k, v in sorted(lease.sticky.items())},
            }
            for network_id, lease in sorted(state.networks.items())
        },
    }


def state_from_json(data: Any, source: str) -> IpamState:
    try:
        if data.get("version") != STATE_VERSION:
            raise StateError(f"{source}: unknown IPAM state version {data.get('version')!r}")
        networks = {}
        for network_id, entry in data["networks"].items():
            networks[network_id] = NetworkLease(
                network_id=network_id,
                subnet=IPv4Network(entry["subnet"]),
                gateway=IPv4Address(entry["gateway"]),
                ip_range=IPv4Network(entry["ip_range"]) if entry.get("ip_range") else None,
                addresses={k: IPv4Address(v) for k, v in entry.get("addresses", {}).items()},
                sticky={k: IPv4Address(v) for k, v in entry.get("sticky", {}).items()},
            )
    except StateError:
        raise
    except (AttributeError, KeyError, TypeError, ValueError) as error:
        raise StateError(f"{source}: corrupt IPAM state: {error!r}") from None
    return IpamState(networks)


# The state last read or written, by file, with the text it was read from: the engine
# changes it at every attach and detach, and parsing it anew (every address of every
# network into an IPv4Address) was most of that. The text itself is read each time, so
# a change by another process is always seen.
_parsed: dict[str, tuple[str, IpamState]] = {}


class IpamStore:
    """``<state_root>/network/ipam.json``, changed only under ``ipam.lock`` (flock)."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / "ipam.json"
        self.lock_path = directory / "ipam.lock"

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.lock_path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing releases the flock

    def _read(self) -> IpamState:
        try:
            text = self.path.read_text()
        except FileNotFoundError:
            return IpamState()
        cached = _parsed.get(str(self.path))
        if cached is not None and cached[0] == text:
            return cached[1]
        try:
            data = json.loads(text)
        except ValueError as error:
            raise StateError(f"{self.path}: corrupt IPAM state: {error}") from None
        state = state_from_json(data, str(self.path))
        _parsed[str(self.path)] = (text, state)
        return state

    def load(self) -> IpamState:
        with self._locked():
            return self._read()

    def update(self, change: Callable[[IpamState], tuple[IpamState, T]]) -> T:
        """Apply a pure change under the lock; the new state is written only if it differs."""
        with self._locked():
            state = self._read()
            new_state, result = change(state)
            if new_state != state:
                data = encode_json(state_to_json(new_state))
                write_atomic(self.path, data)
                _parsed[str(self.path)] = (data.decode(), new_state)
            return result


def host_networks_from(addresses: Iterable[str], routes: Iterable[str]) -> list[IPv4Network]:
    """Host addresses (``"a.b.c.d/len"``) and route destinations as networks, IPv4 only."""
    networks = []
    for text in [*addresses, *routes]:
        with contextlib.suppress(ValueError):
            network = ipaddress.ip_network(text, strict=False)
            if isinstance(network, IPv4Network):
                networks.append(network)
    return networks
