"""``stackr kill [-s SIGNAL] [SERVICE...]``: signal the project's running containers."""

from __future__ import annotations

import argparse


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("services", nargs="*", metavar="SERVICE")
    parser.add_argument("-s", "--signal", default="SIGKILL")


def run(args: argparse.Namespace) -> int:
    from stackr.commands.project_session import client_for, project_for_records
    from stackr.project.observe import observe

    project = project_for_records(args)
    client = client_for(args)
    observation = observe(client, project)
    for resource in observation.service_containers(tuple(args.services), require=True):
        if observation.resources[resource].running:
            client.container_kill(observation.handles[resource], args.signal)
            print(observation.display_names()[resource])
    return 0
