"""Published ports: host ``HOST_IP:HOST_PORT`` → ``container_ip:CONTAINER_PORT``, TCP and UDP.

Mechanism: nftables DNAT (see ``firewall``), in the kernel, so a published port costs
no copy through a user-space proxy and the container sees the real client address for
connections from other hosts. Connections from the host's own loopback go through the
``output`` hook and ``route_localnet`` on the bridge, so ``127.0.0.1:PORT`` works
without Docker's ``docker-proxy``.

Each published host port is also *reserved*: the engine holds a socket bound to
``HOST_IP:HOST_PORT`` (TCP: bound, not listening; UDP: bound) for as long as the port is
published. The bind is how a port taken on the host is found before anything is
created (``EADDRINUSE``; the holder is then named from ``/proc/net/{tcp,udp}*`` socket
inodes and ``/proc/*/fd``), how a random host port is chosen (bind to port 0: the
kernel's ephemeral range, no guessing), and it stops another program from binding a
port whose traffic the DNAT rule would silently steal.

Ranges (``8000-8002:80-82``) are expanded by ``expand_range`` into one ``PortSpec`` each;
a host range for one container port (``8000-8010:80``) takes its first free port.
IPv4 only for now (an IPv6 ``host_ip`` is refused clearly).
"""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import os
import socket
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from stackr.errors import HostError, StackrError, UsageError
from stackr.network import firewall, records

PROTOCOLS = ("tcp", "udp")


class PortInUseError(StackrError):
    """A host port to publish is already taken; the message names the holder."""


@dataclass(frozen=True)
class PortSpec:
    """One port to publish (the long syntax of Compose, one port each)."""

    container_port: int
    protocol: str = "tcp"
    host_ip: str = "0.0.0.0"
    host_port: int | None = None  # None: a random free port
    host_port_end: int | None = None  # "8000-8010:80": the first free port of the range


@dataclass(frozen=True)
class PublishedPort:
    container_id: str
    protocol: str
    host_ip: str
    host_port: int
    container_ip: str
    container_port: int

    def to_json(self) -> dict[str, object]:
        return {
            "protocol": self.protocol,
            "host_ip": self.host_ip,
            "host_port": self.host_port,
            "container_ip": self.container_ip,
            "container_port": self.container_port,
        }

    def render(self) -> str:
        """As ``docker port`` prints it: ``0.0.0.0:8080->80/tcp``."""
        return f"{self.host_ip}:{self.host_port}->{self.container_port}/{self.protocol}"


def expand_range(
    container_ports: tuple[int, int],
    host_ports: tuple[int, int] | None,
    protocol: str = "tcp",
    host_ip: str = "0.0.0.0",
) -> list[PortSpec]:
    """``HOST_A-HOST_B:C_A-C_B`` → one spec per port (ranges of equal length, as Compose)."""
    first, last = container_ports
    count = last - first + 1
    if count < 1:
        raise UsageError(f"port range {first}-{last} is empty")
    if host_ports is None:
        return [PortSpec(first + i, protocol, host_ip, None) for i in range(count)]
    host_first, host_last = host_ports
    if host_last - host_first + 1 != count:
        raise UsageError(
            f"port ranges {host_first}-{host_last}:{first}-{last} are not of the same length"
        )
    return [PortSpec(first + i, protocol, host_ip, host_first + i) for i in range(count)]


def _check_spec(spec: PortSpec) -> None:
    if spec.protocol not in PROTOCOLS:
        raise UsageError(
            f"port {spec.container_port}: protocol {spec.protocol!r} is not tcp or udp"
        )
    for value in (spec.container_port, spec.host_port, spec.host_port_end):
        if value is not None and not 0 < value < 65536:
            raise UsageError(f"port {value} is outside 1-65535")
    if spec.host_port_end is not None and (
        spec.host_port is None or spec.host_port_end < spec.host_port
    ):
        raise UsageError(f"host port range {spec.host_port}-{spec.host_port_end} is empty")
    try:
        address = ipaddress.ip_address(spec.host_ip)
    except ValueError:
        raise UsageError(
            f"port {spec.container_port}: host ip {spec.host_ip!r} is not an address"
        ) from None
    if address.version != 4:
        raise UsageError(
            f"port {spec.container_port}: IPv6 host ip {spec.host_ip} is not supported yet"
        )


# --- who holds a port -------------------------------------------------------------------


def _socket_inodes(protocol: str, host_ip: str, port: int) -> list[int]:
    """Inodes of sockets bound to ``port`` on an address that conflicts with ``host_ip``."""
    wanted_any = host_ip in ("0.0.0.0", "::")
    inodes = []
    for family in ("", "6"):
        path = Path(f"/proc/net/{protocol}{family}")
        try:
            lines = path.read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local_hex, port_hex = fields[1].rsplit(":", 1)
            if int(port_hex, 16) != port:
                continue
            if protocol == "tcp" and fields[3] == "06":  # TIME_WAIT holds nothing
                continue
            if family == "" and not wanted_any:
                local = socket.inet_ntoa(bytes.fromhex(local_hex)[::-1])
                if local not in ("0.0.0.0", host_ip):
                    continue
            inodes.append(int(fields[9]))
    return [i for i in inodes if i]


def _processes_holding(inodes: Sequence[int]) -> list[str]:
    targets = {f"socket:[{inode}]" for inode in inodes}
    holders = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fds = os.listdir(f"/proc/{entry}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(f"/proc/{entry}/fd/{fd}") in targets:
                    comm = Path(f"/proc/{entry}/comm").read_text().strip()
                    holders.append(f"{comm} (pid {entry})")
                    break
            except OSError:
                continue
    return sorted(set(holders))


def describe_holder(protocol: str, host_ip: str, port: int) -> str:
    """``"nginx (pid 812)"``, or a fallback that still says what is known."""
    inodes = _socket_inodes(protocol, host_ip, port)
    holders = _processes_holding(inodes)
    if holders:
        return ", ".join(holders)
    if inodes:
        return "a socket of no visible process (another network namespace or the kernel)"
    return "an unknown holder"


# --- reservations -----------------------------------------------------------------------

_reservations: dict[str, list[socket.socket]] = {}
_reservations_lock = threading.Lock()


# Held while ports are chosen and reserved: the in-use check and the bind are one step.
_publish_lock = threading.Lock()


def _reserved_by_other(protocol: str, host_ip: str, port: int, container_id: str
                       ) -> str | None:
    """The container of this engine that holds the port (host IPs overlapping).

    Needed because the kernel lets two SO_REUSEADDR sockets bind one TCP port while
    neither listens: the reservation alone would not stop a second container."""
    with _reservations_lock:
        for owner, sockets in _reservations.items():
            if owner == container_id:
                continue
            for sock in sockets:
                held_protocol, held_ip, held_port = _key(sock)
                if (held_protocol, held_port) == (protocol, port) and (
                        "0.0.0.0" in (held_ip, host_ip) or held_ip == host_ip):
                    return owner
    return _published_by_other(protocol, host_ip, port, container_id) if port else None


def _bind(protocol: str, host_ip: str, port: int, container_id: str) -> socket.socket:
    owner = _reserved_by_other(protocol, host_ip, port, container_id) if port else None
    if owner is not None:
        raise PortInUseError(
            f"cannot publish {host_ip}:{port}/{protocol}: port already in use by "
            f"container {owner}"
        )
    kind = socket.SOCK_STREAM if protocol == "tcp" else socket.SOCK_DGRAM
    sock = socket.socket(socket.AF_INET, kind)
    try:
        if protocol == "tcp":
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # ignore TIME_WAIT
        sock.bind((host_ip, port))
    except OSError as error:
        sock.close()
        if error.errno == errno.EADDRINUSE:
            own = _published_by_other(protocol, host_ip, port, container_id)
            holder = f"container {own}" if own else describe_holder(protocol, host_ip, port)
            raise PortInUseError(
                f"cannot publish {host_ip}:{port}/{protocol}: port already in use by {holder}"
            ) from None
        raise HostError.from_os_error(
            "reserve port", f"{host_ip}:{port}/{protocol}", error
        ) from error
    return sock


def _published_by_other(protocol: str, host_ip: str, port: int, container_id: str) -> str | None:
    for other in list_published():
        if other.container_id == container_id or (other.protocol, other.host_port) != (
            protocol,
            port,
        ):
            continue
        if "0.0.0.0" in (host_ip, other.host_ip) or other.host_ip == host_ip:
            return other.container_id
    return None


def _bind_spec(spec: PortSpec, container_id: str) -> socket.socket:
    """Reserve the spec's host port: the fixed one, the first free of a range, or any."""
    if spec.host_port is None:
        return _bind(spec.protocol, spec.host_ip, 0, container_id)
    if spec.host_port_end is None:
        return _bind(spec.protocol, spec.host_ip, spec.host_port, container_id)
    holders = []
    for port in range(spec.host_port, spec.host_port_end + 1):
        try:
            return _bind(spec.protocol, spec.host_ip, port, container_id)
        except PortInUseError as error:
            holders.append(str(error).rsplit(" by ", 1)[-1])
    raise PortInUseError(
        f"cannot publish {spec.host_ip}:{spec.host_port}-{spec.host_port_end}/{spec.protocol}: "
        f"every port of the range is in use (by {', '.join(sorted(set(holders)))})"
    )


def check_ports_available(ports: Sequence[PortSpec]) -> None:
    """Fail with the holder named if a host port (or a whole range) is taken; makes nothing."""
    for spec in ports:
        _check_spec(spec)
        if spec.host_port is not None:
            _bind_spec(spec, container_id="").close()


def _record_path(container_id: str) -> Path:
    return records.network_root() / "ports" / f"{records.check_id('container', container_id)}.json"


def list_published(container_id: str | None = None) -> list[PublishedPort]:
    paths = (
        [_record_path(container_id)]
        if container_id
        else records.list_json(records.network_root() / "ports")
    )
    found = []
    for path in paths:
        data = records.read_json(path)
        if data is None:
            continue
        for entry in data.get("ports", []):
            found.append(
                PublishedPort(
                    container_id=str(data["container_id"]),
                    protocol=str(entry["protocol"]),
                    host_ip=str(entry["host_ip"]),
                    host_port=int(entry["host_port"]),
                    container_ip=str(entry["container_ip"]),
                    container_port=int(entry["container_port"]),
                )
            )
    return found


def publish(container_id: str, ports: Sequence[PortSpec], container_ip: str) -> list[PublishedPort]:
    """Reserve every host port (all or none), record them, then add the DNAT rules.

    Publishing again for the same container replaces its previous set.
    """
    for spec in ports:
        _check_spec(spec)
    with _publish_lock:
        return _publish_locked(container_id, ports, container_ip)


def _publish_locked(container_id: str, ports: Sequence[PortSpec], container_ip: str
                    ) -> list[PublishedPort]:
    with _reservations_lock:
        held = _reservations.pop(container_id, [])
    reserved: list[socket.socket] = []
    bound_now: list[socket.socket] = []
    published: list[PublishedPort] = []
    try:
        held_by_key = {_key(sock): sock for sock in held}
        for spec in ports:
            key = (spec.protocol, spec.host_ip, spec.host_port)
            if spec.host_port is not None and spec.host_port_end is None and key in held_by_key:
                sock = held_by_key.pop(key)
            else:
                sock = _bind_spec(spec, container_id)
                bound_now.append(sock)
            reserved.append(sock)
            published.append(
                PublishedPort(
                    container_id,
                    spec.protocol,
                    spec.host_ip,
                    int(sock.getsockname()[1]),
                    container_ip,
                    spec.container_port,
                )
            )
    except BaseException:
        for sock in bound_now:
            sock.close()
        with _reservations_lock:
            _reservations[container_id] = held
        raise
    for sock in held_by_key.values():
        sock.close()
    with _reservations_lock:
        _reservations[container_id] = reserved
    records.write_json_atomic(
        _record_path(container_id),
        {"container_id": container_id, "ports": [p.to_json() for p in published]},
    )
    try:
        firewall.sync()
    except BaseException as error:
        # a failed publish removes what it made (record, reservations, rules), then reports
        try:
            unpublish(container_id)
        except Exception as cleanup_error:
            error.add_note(f"cleaning up the published ports failed too: {cleanup_error}")
        raise
    return published


def _key(sock: socket.socket) -> tuple[str, str, int]:
    protocol = "tcp" if sock.type == socket.SOCK_STREAM else "udp"
    host_ip, port = sock.getsockname()
    return (protocol, str(host_ip), int(port))


def unpublish(container_id: str) -> None:
    """Remove the rules, the record and the reservations; nothing published is success."""
    path = _record_path(container_id)
    if path.exists():
        removing = path.with_suffix(".removing")
        path.rename(removing)
        firewall.sync()
        records.remove_file(removing)
    with _reservations_lock:
        held = _reservations.pop(container_id, [])
    for sock in held:
        with contextlib.suppress(OSError):
            sock.close()


def restore_reservations() -> list[str]:
    """After an engine restart: re-bind the recorded host ports; returns failures as text."""
    failures = []
    by_container: dict[str, list[PublishedPort]] = {}
    for port in list_published():
        by_container.setdefault(port.container_id, []).append(port)
    for container_id, ports in sorted(by_container.items()):
        with _reservations_lock:
            if container_id in _reservations:
                continue
        held = []
        for port in ports:
            try:
                held.append(_bind(port.protocol, port.host_ip, port.host_port, container_id))
            except StackrError as error:
                failures.append(str(error))
        with _reservations_lock:
            _reservations[container_id] = held
    return failures
