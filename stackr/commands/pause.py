"""``stackr pause [SERVICE...]``: freeze the project's running containers (cgroup
freezer); ``stackr unpause`` lets them go on."""

from __future__ import annotations

import argparse


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("services", nargs="*", metavar="SERVICE")


def run(args: argparse.Namespace) -> int:
    return freeze(args, pause=True)


def freeze(args: argparse.Namespace, *, pause: bool) -> int:
    from stackr.commands.project_session import client_for, project_for_records
    from stackr.project.observe import observe

    project = project_for_records(args)
    client = client_for(args)
    observation = observe(client, project)
    names = observation.display_names()
    for resource in observation.service_containers(tuple(args.services), require=True):
        handle = observation.handles[resource]
        state = observation.containers[resource].get("State")  # from the listing observe made
        if state != ("running" if pause else "paused"):
            continue
        if pause:
            client.container_pause(handle)
        else:
            client.container_unpause(handle)
        print(f"Container {names[resource]}  {'Paused' if pause else 'Unpaused'}")
    return 0
