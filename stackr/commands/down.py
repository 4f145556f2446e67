"""``stackr down``: stop and remove everything the project owns, from its records."""

from __future__ import annotations

import argparse
import sys

TYPE_CHECKING = False  # mypy reads True: typing is not loaded by the verb
if TYPE_CHECKING:
    from stackr.client import EngineClient
    from stackr.project.observe import Observation

# Removals beside the stops, at most this many at once: a removal is mostly the engine's
# Python (one interpreter lock) and kernel work that needs a CPU; beyond two at once
# they only take turns, and each turn is a thread switch. 20 services: down 0.26 ->
# 0.24 s, CPU 330 -> 300 ms (n=25, interleaved, on 2 cores).
REMOVALS_AT_ONCE = 2


def configure(parser: argparse.ArgumentParser) -> None:
    from stackr.commands.project_session import add_progress_option

    add_progress_option(parser)
    parser.add_argument("-v", "--volumes", action="store_true",
                        help="also remove the project's named volumes")
    parser.add_argument("--remove-orphans", action="store_true",
                        help="accepted: down removes every container of the project")
    parser.add_argument("-t", "--timeout", type=int, default=None, metavar="SECONDS",
                        help="grace period for all the stops together (default: each "
                             "container's stop_grace_period, else 10)")
    parser.add_argument("--rmi", choices=("local", "all"), default=None,
                        help="also remove images: all, or only those without a registry name")
    parser.add_argument("--dry-run", action="store_true", help="print the plan, change nothing")


def run(args: argparse.Namespace) -> int:
    from stackr.commands.project_session import client_for, progress_sink, project_for_records
    from stackr.plan import DownOptions, OpType, teardown
    from stackr.project.apply import Executor
    from stackr.project.lock import project_lock
    from stackr.project.observe import observe
    from stackr.project.requests import down_requests

    project = project_for_records(args)
    client = client_for(args)
    with project_lock(project, on_wait=lambda text: print(text, file=sys.stderr)):
        observation = observe(client, project)
        plan = teardown(observation.resources, DownOptions(remove_volumes=args.volumes))
        if args.dry_run:
            print(plan.render())
            return 0
        # One-off (`stackr run`) containers are no replicas, so the plan does not know
        # them; they go first, as they may hold the networks the plan removes.
        _remove_one_offs(client, observation)
        if plan.is_empty():
            print(f"nothing to do: project {project} has no resources", file=sys.stderr)
        else:
            requests = down_requests(observation, args.timeout)
            Executor(client, requests, progress_sink(args.progress),
                     detach=frozenset({OpType.REMOVE_CONTAINER}),
                     detached_workers=REMOVALS_AT_ONCE).run(plan)
        from stackr.project.secrets import remove_files

        remove_files(project)
        if args.rmi:
            _remove_images(client, observation, args.rmi)
    return 0


def _remove_one_offs(client: EngineClient, observation: Observation) -> None:
    from stackr.client import EngineNotFoundError

    for summary in observation.one_offs:
        try:
            client.container_remove(summary["Id"], force=True)
        except EngineNotFoundError:
            continue
        print(f"Container {str(summary['Names'][0]).lstrip('/')}  Removed", file=sys.stderr)


def _remove_images(client: EngineClient, observation: Observation, which: str) -> None:
    """``--rmi all``: every service's image; ``local``: only images a service builds
    (Compose's rule: those without a name of their own)."""
    from urllib.parse import quote

    from stackr.client import EngineConflictError, EngineNotFoundError
    from stackr.project import names

    references = set()
    for summary in observation.containers.values():
        image = summary.get("Image")
        built = (summary.get("Labels") or {}).get(names.LABEL_IMAGE_BUILT) == "1"
        if isinstance(image, str) and image and (which == "all" or built):
            references.add(image)
    for reference in sorted(references):
        try:
            client.request("DELETE", "/images/" + quote(reference, safe="/:@"))
            print(f"Image {reference}  Removed", file=sys.stderr)
        except EngineNotFoundError:
            continue
        except EngineConflictError as error:
            print(f"warning: image {reference}: {error}", file=sys.stderr)
