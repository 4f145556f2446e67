"""Bringing the network side back after an engine restart or a crash, from the records.

``restore(resolver)`` is what the engine calls on start: every recorded network is
ensured again (a bridge lost with a reboot or deleted by hand comes back with the same
subnet), served by the resolver, every attachment whose sandbox still exists is
registered again with its names, the published ports are re-reserved, and the firewall
table is rebuilt. Attachments whose sandbox is gone (the container died with the host)
are detached, so their addresses are free again. Nothing here decides what *should*
exist: the engine removes containers and networks it no longer wants through the
ordinary ``remove_*`` calls, which all accept half-made objects.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from stackr.network import attach, bridge, firewall, netns, ports
from stackr.network.dns import Resolver
from stackr.network.ipam import SubnetRequest


@dataclass
class RestoreReport:
    networks: list[str] = field(default_factory=list)
    attachments: list[str] = field(default_factory=list)
    detached_stale: list[str] = field(default_factory=list)
    port_failures: list[str] = field(default_factory=list)


def restore(resolver: Resolver | None) -> RestoreReport:
    report = RestoreReport()
    networks = {}
    for recorded in bridge.list_networks():
        spec = bridge.NetworkSpec(
            recorded.network_id,
            recorded.name,
            recorded.internal,
            # the leased subnet is kept by IPAM; asking for it again is a no-op
            SubnetRequest(),
        )
        network = bridge.ensure_network(spec)
        networks[network.network_id] = network
        report.networks.append(network.network_id)
        if resolver is not None:
            resolver.serve_network(network.network_id, network.gateway, network.internal)
    for attachment in attach.list_attachments():
        sandbox = attach.sandbox_path(attachment.container_id)
        if not netns.is_netns_mounted(sandbox) or attachment.network_id not in networks:
            attach.detach(attachment.container_id, attachment.network_id)
            report.detached_stale.append(f"{attachment.container_id}/{attachment.network_id}")
            continue
        if resolver is not None:
            resolver.register(
                attachment.container_id,
                attachment.network_id,
                attachment.ipv4_address,
                attachment.names,
            )
        report.attachments.append(f"{attachment.container_id}/{attachment.network_id}")
    report.port_failures = ports.restore_reservations()
    firewall.sync()
    return report
