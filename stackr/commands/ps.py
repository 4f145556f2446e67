"""``stackr ps``: the project's containers, their state and published ports."""

from __future__ import annotations

import argparse
import json

TYPE_CHECKING = False  # mypy reads True: typing is not loaded by the verb
if TYPE_CHECKING:
    from typing import Any


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("services", nargs="*", metavar="SERVICE")
    parser.add_argument("-a", "--all", action="store_true", help="also stopped containers")
    parser.add_argument("-q", "--quiet", action="store_true", help="only container ids")
    parser.add_argument("--services", dest="list_services", action="store_true",
                        help="only service names")
    parser.add_argument("--format", choices=("table", "json"), default="table")


def _ports(inspected: dict[str, Any]) -> str:
    published = (inspected.get("NetworkSettings") or {}).get("Ports") or []
    texts = []
    for port in published:
        if isinstance(port, dict) and port.get("host_port"):
            texts.append(f"{port.get('host_ip')}:{port['host_port']}->"
                         f"{port.get('container_port')}/{port.get('protocol', 'tcp')}")
    return ", ".join(texts)


def rows(client: Any, project: str, services: tuple[str, ...], all_states: bool
         ) -> list[dict[str, Any]]:
    from stackr.project.observe import observe

    observation = observe(client, project)
    result = []
    for resource in observation.service_containers(services, require=True):
        summary = observation.containers[resource]
        if not all_states and summary.get("State") not in ("running", "restarting", "paused"):
            continue
        inspected = client.container_inspect(summary["Id"])
        state = inspected.get("State") or {}
        result.append({
            "ID": summary["Id"],
            "Name": summary["Names"][0].lstrip("/"),
            "Service": resource.name,
            "Replica": resource.replica,
            "Image": summary.get("Image", ""),
            "Command": summary.get("Command", ""),
            "State": summary.get("State", ""),
            "Status": summary.get("Status", ""),
            "Health": (state.get("Health") or {}).get("Status", ""),
            "ExitCode": state.get("ExitCode", 0),
            "OOMKilled": bool(state.get("OOMKilled")),
            "RestartCount": inspected.get("RestartCount", 0),
            "Ports": _ports(inspected),
        })
    return result


def run(args: argparse.Namespace) -> int:
    from stackr.commands.project_session import client_for, project_for_records

    project = project_for_records(args)
    client = client_for(args)
    table = rows(client, project, tuple(args.services), args.all)
    if args.quiet:
        for row in table:
            print(row["ID"])
    elif args.list_services:
        for name in sorted({row["Service"] for row in table}):
            print(name)
    elif args.format == "json":
        print(json.dumps(table, indent=2))
    else:
        headers = ("NAME", "IMAGE", "SERVICE", "STATUS", "PORTS")
        lines = [headers] + [
            (row["Name"], row["Image"], row["Service"],
             row["Status"] + (f" ({row['Health']})" if row["Health"] else ""), row["Ports"])
            for row in table
        ]
        widths = [max(len(str(line[i])) for line in lines) for i in range(len(headers))]
        for line in lines:
            print("   ".join(str(value).ljust(width) for value, width
                             in zip(line, widths, strict=True)).rstrip())
    return 0
