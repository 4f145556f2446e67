"""``stackr top [SERVICE...]``: the processes of the project's running containers."""

from __future__ import annotations

import argparse


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("services", nargs="*", metavar="SERVICE")


def run(args: argparse.Namespace) -> int:
    from stackr.commands.project_session import client_for, project_for_records
    from stackr.project.observe import observe

    project = project_for_records(args)
    client = client_for(args)
    observation = observe(client, project)
    for resource in observation.service_containers(tuple(args.services), require=True):
        if not observation.resources[resource].running:
            continue
        top = client.container_top(observation.handles[resource])
        titles = top.get("Titles") or []
        processes = top.get("Processes") or []
        rows = [titles, *processes]
        widths = [max(len(str(row[i])) for row in rows) for i in range(len(titles))]
        print(observation.display_names()[resource])
        for row in rows:
            print("  " + "  ".join(str(value).ljust(width)
                                   for value, width in zip(row, widths, strict=False)).rstrip())
    return 0
