"""``stackr port SERVICE PRIVATE_PORT``: the host address a container port is published on."""

from __future__ import annotations

import argparse


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("service", metavar="SERVICE")
    parser.add_argument("private_port", metavar="PRIVATE_PORT[/PROTOCOL]")
    parser.add_argument("--index", type=int, default=1, metavar="N")


def run(args: argparse.Namespace) -> int:
    from stackr.commands.project_session import client_for, project_for_records
    from stackr.errors import UsageError
    from stackr.graph import ResourceId
    from stackr.project.observe import observe

    port_text, _, protocol = args.private_port.partition("/")
    if not port_text.isdigit():
        raise UsageError(f"port {args.private_port!r}: use PORT[/tcp|udp]")
    project = project_for_records(args)
    client = client_for(args)
    observation = observe(client, project)
    resource = ResourceId("service", args.service, args.index)
    if resource not in observation.handles:
        raise UsageError(f"service {args.service} has no container {args.index}")
    published = (client.container_inspect(observation.handles[resource])
                 .get("NetworkSettings") or {}).get("Ports") or []
    for port in published:
        if port.get("container_port") == int(port_text) and \
                port.get("protocol", "tcp") == (protocol or "tcp"):
            print(f"{port.get('host_ip')}:{port.get('host_port')}")
            return 0
    raise UsageError(f"{args.service}: port {args.private_port} is not published")
