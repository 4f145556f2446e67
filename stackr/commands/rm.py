"""``stackr rm [-f] [-s] [SERVICE...]``: remove the project's stopped containers."""

from __future__ import annotations

import argparse


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("services", nargs="*", metavar="SERVICE")
    parser.add_argument("-f", "--force", action="store_true", help="do not ask (stackr never asks)")
    parser.add_argument("-s", "--stop", action="store_true", help="stop them first")


def run(args: argparse.Namespace) -> int:
    from stackr.commands.project_session import client_for, project_for_records
    from stackr.project.lock import project_lock
    from stackr.project.observe import observe

    project = project_for_records(args)
    client = client_for(args)
    with project_lock(project):
        observation = observe(client, project)
        for resource in observation.service_containers(tuple(args.services), require=True):
            container_id = observation.handles[resource]
            if observation.resources[resource].running:
                if not args.stop:
                    continue
                client.container_stop(container_id)
            client.container_remove(container_id, force=True)
            print(observation.display_names()[resource])
    return 0
