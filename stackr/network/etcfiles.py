"""A container's /etc/resolv.conf and /etc/hosts (rendered here, mounted by the runtime).

``resolv.conf`` names the engine's resolver on the gateway of the container's first
network (see ``dns``); a service's ``dns:`` servers become that resolver's upstreams for
the container instead of being written here, so stackr names keep resolving (Docker does
the same). ``dns_search`` and ``dns_opt`` are written as given. Without networks
(``network_mode: none``) or when asked for the host's resolvers, the host's file is
copied.

``hosts`` holds localhost, the container's own hostname and addresses, and
``extra_hosts``; the special address ``host-gateway`` (``host.docker.internal:host-gateway``)
is the gateway of the container's first network, which is the host as seen from inside.
"""

from __future__ import annotations

from collections.abc import Sequence

HOST_GATEWAY = "host-gateway"


def render_resolv_conf(
    nameservers: Sequence[str], search: Sequence[str] = (), options: Sequence[str] = ()
) -> str:
    lines = [f"nameserver {server}" for server in nameservers]
    if search:
        lines.append("search " + " ".join(search))
    if options:
        lines.append("options " + " ".join(options))
    return "\n".join(lines) + "\n"


def parse_extra_host(entry: str) -> tuple[str, str]:
    """``"name:addr"`` or ``"name=addr"`` (Compose accepts both) → (name, addr)."""
    for separator in ("=", ":"):
        name, found, address = entry.partition(separator)
        if found and name and address:
            return name.strip(), address.strip().strip("[]")
    raise ValueError(f"extra host {entry!r} is not NAME:ADDRESS")


def render_hosts(
    hostname: str,
    addresses: Sequence[str],
    extra_hosts: Sequence[tuple[str, str]] = (),
    gateway: str | None = None,
) -> str:
    lines = [
        "127.0.0.1\tlocalhost",
        "::1\tlocalhost ip6-localhost ip6-loopback",
    ]
    for address in addresses:
        lines.append(f"{address}\t{hostname}")
    for name, address in extra_hosts:
        if address == HOST_GATEWAY:
            if gateway is None:
                raise ValueError(f"extra host {name}: host-gateway needs a network with a gateway")
            address = gateway
        lines.append(f"{address}\t{name}")
    return "\n".join(lines) + "\n"
