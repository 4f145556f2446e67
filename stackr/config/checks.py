"""Cross-reference checks of a validated stack: what one part names must exist elsewhere.

Each check is a small function yielding ``Diagnostic``s; ``check_stack`` runs them all and
raises one ``StackFileError`` with every problem (runc's validator, compose-go's
``checkConsistency``).
"""

from __future__ import annotations

import difflib
import ipaddress
from collections.abc import Callable, Iterable, Iterator, Sequence

from stackr.config.models_top import Stack
from stackr.config.source_map import SourceMap
from stackr.errors import Diagnostic, Location, StackFileError, render_key_path

Check = Callable[[Stack, SourceMap], Iterator[Diagnostic]]


def did_you_mean(name: str, candidates: Iterable[str]) -> str | None:
    close = difflib.get_close_matches(name, sorted(candidates), n=1, cutoff=0.6)
    return f'did you mean "{close[0]}"?' if close else None


def problem(
    source_map: SourceMap,
    path: Sequence[str | int],
    message: str,
    hint: str | None = None,
    order: Sequence[str] = (),
) -> Diagnostic:
    """A diagnostic at ``path``. ``order``: the names of a mapping that the file may have
    written as a list (``networks: [a, b]``), so that ``…networks.b`` is found at ``[1]``."""
    return Diagnostic(
        reference_location(source_map, path, order), render_key_path(path), message, hint
    )


def reference_location(
    source_map: SourceMap, path: Sequence[str | int], order: Sequence[str]
) -> Location | None:
    name = path[-1] if path else None
    if isinstance(name, str) and name in order:
        written = {known for known, _ in source_map.items()}
        if tuple(path) not in written:
            as_item = (*path[:-1], order.index(name))
            if as_item in written:
                return source_map.value(as_item)
    return source_map.value(path)


def undefined(
    source_map: SourceMap,
    path: Sequence[str | int],
    kind: str,
    name: str,
    known: Iterable[str],
    order: Sequence[str] = (),
) -> Diagnostic:
    message = f'{kind} "{name}" is not defined'
    return problem(source_map, path, message, did_you_mean(name, list(known)), order)


def check_networks(stack: Stack, source_map: SourceMap) -> Iterator[Diagnostic]:
    for service_name, service in sorted(stack.services.items()):
        for network_name in service.networks:
            if network_name not in stack.networks:
                yield undefined(
                    source_map,
                    ("services", service_name, "networks", network_name),
                    "network",
                    network_name,
                    stack.networks,
                    order=list(service.networks),
                )


def check_volumes(stack: Stack, source_map: SourceMap) -> Iterator[Diagnostic]:
    for service_name, service in sorted(stack.services.items()):
        for index, volume in enumerate(service.volumes):
            if volume.type == "volume" and volume.source and volume.source not in stack.volumes:
                yield undefined(
                    source_map,
                    ("services", service_name, "volumes", index),
                    "volume",
                    volume.source,
                    stack.volumes,
                )


def check_secrets_and_configs(stack: Stack, source_map: SourceMap) -> Iterator[Diagnostic]:
    for service_name, service in sorted(stack.services.items()):
        for index, secret in enumerate(service.secrets):
            if secret.source not in stack.secrets:
                path = ("services", service_name, "secrets", index)
                yield undefined(source_map, path, "secret", secret.source, stack.secrets)
        for index, config in enumerate(service.configs):
            if config.source not in stack.configs:
                path = ("services", service_name, "configs", index)
                yield undefined(source_map, path, "config", config.source, stack.configs)


def check_service_references(stack: Stack, source_map: SourceMap) -> Iterator[Diagnostic]:
    """depends_on, links, volumes_from, and ``service:x`` modes name existing services."""
    names = stack.services
    for service_name, service in sorted(stack.services.items()):
        base = ("services", service_name)
        order = list(service.depends_on)
        for dependency in service.depends_on:
            if dependency == service_name:
                yield problem(
                    source_map, (*base, "depends_on", dependency), "depends on itself", order=order
                )
            elif dependency not in names:
                yield undefined(
                    source_map,
                    (*base, "depends_on", dependency),
                    "service",
                    dependency,
                    names,
                    order=order,
                )
        for index, link in enumerate(service.links):
            if link.service not in names:
                yield undefined(source_map, (*base, "links", index), "service", link.service, names)
        for index, source in enumerate(service.volumes_from):
            if source.service not in names:
                yield undefined(
                    source_map, (*base, "volumes_from", index), "service", source.service, names
                )
        for key in ("network_mode", "ipc", "pid"):
            mode = getattr(service, key)
            if isinstance(mode, str) and mode.startswith("service:"):
                other = mode.removeprefix("service:")
                if other == service_name:
                    yield problem(source_map, (*base, key), f"{key} refers to the service itself")
                elif other not in names:
                    yield undefined(source_map, (*base, key), "service", other, names)


def check_container_names(stack: Stack, source_map: SourceMap) -> Iterator[Diagnostic]:
    owners: dict[str, str] = {}
    for service_name, service in sorted(stack.services.items()):
        name = service.container_name
        if name is None:
            continue
        path = ("services", service_name, "container_name")
        if name in owners:
            yield problem(
                source_map,
                path,
                f'container name "{name}" is already used by service "{owners[name]}"',
            )
        else:
            owners[name] = service_name
        if service.replicas > 1:
            yield problem(
                source_map,
                path,
                f"a fixed container name cannot be given to {service.replicas} replicas",
            )


def _host_ips_overlap(first: str | None, second: str | None) -> bool:
    unspecified = {None, "0.0.0.0", "::"}
    if first in unspecified or second in unspecified:
        # 0.0.0.0 takes the port on every address of the host family.
        return True
    return ipaddress.ip_address(first or "") == ipaddress.ip_address(second or "")


def check_published_ports(stack: Stack, source_map: SourceMap) -> Iterator[Diagnostic]:
    """Two mappings cannot take the same host port on overlapping addresses."""
    taken: list[tuple[str, str | None, str, int, int, str]] = []
    for service_name, service in sorted(stack.services.items()):
        for index, port in enumerate(service.ports):
            if port.published is None:
                continue
            first = port.published
            last = port.published_end or first
            where = f"services.{service_name}.ports[{index}]"
            path = ("services", service_name, "ports", index)
            if port.published_end is None and service.replicas > 1:
                yield problem(
                    source_map,
                    path,
                    f"host port {first} cannot be published by {service.replicas} replicas",
                )
            for protocol, host_ip, other_where, other_first, other_last, _ in taken:
                if (
                    protocol == port.protocol
                    and first <= other_last
                    and other_first <= last
                    and port.published_end is None
                    and other_first == other_last
                    and _host_ips_overlap(host_ip, port.host_ip)
                ):
                    yield problem(
                        source_map,
                        path,
                        f"host port {first}/{port.protocol} is already published by {other_where}",
                    )
                    break
            taken.append((port.protocol, port.host_ip, where, first, last, service_name))


def check_network_mode(stack: Stack, source_map: SourceMap) -> Iterator[Diagnostic]:
    """A service sharing another's network namespace cannot publish ports of its own."""
    for service_name, service in sorted(stack.services.items()):
        if service.network_mode is not None and service.ports:
            if service.network_mode == "host":
                continue  # host mode: ports are meaningless but harmless (Compose warns)
            yield problem(
                source_map,
                ("services", service_name, "ports"),
                f'ports cannot be published with network_mode "{service.network_mode}"',
            )


def check_static_addresses(stack: Stack, source_map: SourceMap) -> Iterator[Diagnostic]:
    """An ``ipv4_address`` needs a network with a declared subnet holding it, and only one
    container can have it (as Docker requires)."""
    owners: dict[tuple[str, str], str] = {}
    for service_name, service in sorted(stack.services.items()):
        for network_name, attachment in sorted(service.networks.items()):
            address = attachment.ipv4_address
            network = stack.networks.get(network_name)
            if address is None or network is None or network.external:
                continue
            path = ("services", service_name, "networks", network_name, "ipv4_address")
            subnets = [
                ipaddress.ip_network(pool.subnet)
                for pool in (network.ipam.config if network.ipam else ())
                if pool.subnet is not None
            ]
            if not subnets:
                yield problem(
                    source_map,
                    path,
                    f'a static address needs a subnet declared for network "{network_name}" '
                    "(ipam.config[].subnet)",
                )
            elif not any(ipaddress.ip_address(address) in subnet for subnet in subnets):
                within = ", ".join(str(subnet) for subnet in subnets)
                yield problem(source_map, path, f"{address} is outside the subnet ({within})")
            elif (network_name, address) in owners:
                other = owners[(network_name, address)]
                yield problem(source_map, path, f'{address} is already given to service "{other}"')
            elif service.replicas > 1:
                yield problem(
                    source_map, path, f"one address cannot be given to {service.replicas} replicas"
                )
            owners.setdefault((network_name, address), service_name)


def check_mount_targets(stack: Stack, source_map: SourceMap) -> Iterator[Diagnostic]:
    """Two mounts of one service on the same container path (Docker: "duplicate mount point")."""
    for service_name, service in sorted(stack.services.items()):
        seen: dict[str, int] = {}
        for index, volume in enumerate(service.volumes):
            target = volume.target.rstrip("/") or "/"
            if target in seen:
                yield problem(
                    source_map,
                    ("services", service_name, "volumes", index),
                    f"{target} is already mounted by volumes[{seen[target]}]",
                )
            else:
                seen[target] = index


CHECKS: tuple[Check, ...] = (
    check_networks,
    check_volumes,
    check_secrets_and_configs,
    check_service_references,
    check_container_names,
    check_published_ports,
    check_network_mode,
    check_static_addresses,
    check_mount_targets,
)


def check_stack(stack: Stack, source_map: SourceMap) -> None:
    """Raise ``StackFileError`` listing every broken cross-reference of ``stack``."""
    diagnostics = [found for check in CHECKS for found in check(stack, source_map)]
    if diagnostics:
        raise StackFileError(diagnostics)
