"""``stop``/``start``/``restart`` share this: the selected containers, in dependency
order (start) or its reverse (stop), each wave in parallel, through the executor."""

from __future__ import annotations

import argparse
import sys


def configure(parser: argparse.ArgumentParser) -> None:
    from stackr.commands.project_session import add_progress_option

    parser.add_argument("services", nargs="*", metavar="SERVICE")
    add_progress_option(parser)


def configure_with_timeout(parser: argparse.ArgumentParser) -> None:
    configure(parser)
    parser.add_argument("-t", "--timeout", type=int, default=None, metavar="SECONDS")


def run_action(args: argparse.Namespace, action: str) -> int:
    from stackr.commands.project_session import client_for, progress_sink, project_for_records
    from stackr.plan import lifecycle
    from stackr.project.apply import Executor, Requests
    from stackr.project.lock import project_lock
    from stackr.project.observe import observe
    from stackr.project.requests import recorded_hooks

    project = project_for_records(args)
    client = client_for(args)
    with project_lock(project, on_wait=lambda text: print(text, file=sys.stderr)):
        observation = observe(client, project)
        observation.service_containers(tuple(args.services), require=True)
        plan = lifecycle(observation.resources, action, tuple(args.services))
        requests = Requests(handles=dict(observation.handles),
                            display_names=observation.display_names(),
                            stop_timeout=getattr(args, "timeout", None),
                            hooks=recorded_hooks(observation))
        Executor(client, requests, progress_sink(args.progress)).run(plan)
    return 0
