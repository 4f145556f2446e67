"""``stackr up``: converge the host to the stack file (observe → plan → apply)."""

from __future__ import annotations

import argparse
import sys
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Collection

    from stackr.client import EngineClient
    from stackr.project.observe import Observation


def configure(parser: argparse.ArgumentParser) -> None:
    from stackr.commands.project_session import add_progress_option

    add_progress_option(parser)
    parser.add_argument("services", nargs="*", metavar="SERVICE", help="only these (and what "
                        "they need)")
    parser.add_argument("-d", "--detach", action="store_true", help="return once started")
    parser.add_argument("--dry-run", action="store_true", help="print the plan, change nothing")
    parser.add_argument("--force-recreate", action="store_true")
    parser.add_argument("--no-recreate", action="store_true")
    parser.add_argument("--no-deps", action="store_true", help="do not start linked services")
    parser.add_argument("--no-start", action="store_true", help="create, do not start")
    parser.add_argument("--remove-orphans", action="store_true")
    parser.add_argument("-V", "--renew-anon-volumes", action="store_true",
                        help="recreated containers get new anonymous volumes, not the old data")
    parser.add_argument("--scale", action="append", default=[], metavar="SERVICE=N")
    parser.add_argument("--wait", action="store_true", help="wait until running or healthy")
    parser.add_argument("--wait-timeout", type=int, default=None, metavar="SECONDS")
    parser.add_argument("-t", "--timeout", type=int, default=None, metavar="SECONDS",
                        help="stop grace period for recreated containers")
    parser.add_argument("--abort-on-container-exit", action="store_true")
    parser.add_argument("--exit-code-from", metavar="SERVICE", default=None)
    parser.add_argument("--build", action="store_true",
                        help="build the images of services with build: first")
    parser.add_argument("--quiet-pull", action="store_true")


def run(args: argparse.Namespace) -> int:
    import os

    from stackr.commands.project_session import client_for
    from stackr.errors import UsageError
    from stackr.project import settled
    from stackr.project.observe import observe

    if args.force_recreate and args.no_recreate:
        raise UsageError("--force-recreate and --no-recreate cannot be combined")
    if args.exit_code_from:
        args.abort_on_container_exit = True
    if args.detach and args.abort_on_container_exit:
        raise UsageError("-d cannot be combined with --abort-on-container-exit/--exit-code-from")
    client = client_for(args)
    started_at = time.time()
    key = settled.invocation_key(args, os.environ, os.getcwd())
    answer = _settled_answer(client, key) if key is not None else None
    if answer is not None:
        project, services, warnings = answer
        _check_services(args, services)
        for warning in warnings:
            print(f"warning: {warning}", file=sys.stderr)
        print(f"nothing to do: project {project} matches the stack file", file=sys.stderr)
    else:
        converged_project = _converge(args, client, key)
        if converged_project is None:
            return 0
        project = converged_project
    selected = tuple(args.services)
    if args.wait and not args.no_start:
        _wait_ready(client, observe(client, project), selected, args.wait_timeout)
    if args.detach or args.no_start:
        return 0
    from stackr.commands.attach import attach

    return attach(client, observe(client, project), selected, started_at,
                  args.abort_on_container_exit, args.exit_code_from, args.timeout)


def _check_services(args: argparse.Namespace, services: Collection[str]) -> None:
    from stackr.errors import UsageError

    unknown = sorted(set(args.services) - set(services))
    if args.exit_code_from and args.exit_code_from not in services:
        unknown.append(args.exit_code_from)
    if unknown:
        raise UsageError(f"no such service: {', '.join(unknown)}")


def _settled_answer(client: EngineClient, key: str
                    ) -> tuple[str, list[str], list[str]] | None:
    """(project, its services, the warnings to repeat) when the project's record says
    nothing changed since it settled (``stackr.project.settled``); else ``None``."""
    from stackr.project import settled
    from stackr.project.lock import project_lock
    from stackr.project.observe import observe

    document = settled.lookup(key)
    if document is None:
        return None
    project = str(document["project"])
    with project_lock(project, on_wait=lambda text: print(text, file=sys.stderr)):
        observation = observe(client, project)
    if settled.observed_digest(observation) != document["observed"]:
        return None
    return project, list(document["services"]), list(document["warnings"])


def _converge(args: argparse.Namespace, client: EngineClient, key: str | None) -> str | None:
    """The full path: load, plan, apply; the project's name (``None``: a dry run)."""
    from stackr.commands.project_options import load_options, load_project
    from stackr.commands.project_session import print_warnings, progress_sink
    from stackr.graph import build_graph
    from stackr.plan import UpOptions
    from stackr.project import settled
    from stackr.project.converge import converge
    from stackr.project.desired import parse_scale, with_scale

    loaded = load_project(args)
    stack = with_scale(loaded.stack, parse_scale(args.scale))
    _check_services(args, stack.services)
    graph = build_graph(stack, loaded.raw.source_map)
    options = UpOptions(
        force_recreate=args.force_recreate, no_recreate=args.no_recreate,
        no_start=args.no_start, remove_orphans=args.remove_orphans,
        services=tuple(args.services), no_deps=args.no_deps,
        renew_anon_volumes=args.renew_anon_volumes,
    )
    converged = converge(
        client, loaded, stack, graph, options, dry_run=args.dry_run, build_all=args.build,
        stop_timeout=args.timeout, progress=progress_sink(args.progress),
        on_wait=lambda text: print(text, file=sys.stderr),
    )
    plan = converged.plan
    if args.dry_run:
        print(plan.render())
        return None
    print_warnings(plan.warnings)
    if plan.is_empty():
        print(f"nothing to do: project {stack.name} matches the stack file", file=sys.stderr)
    if key is not None and settled.eligible(stack, converged.desired.external):
        observation = converged.settled(client, graph)
        if observation is not None:
            warnings = [warning.render() for warning in loaded.warnings]
            files = [*settled.consulted_files(loaded, load_options(args)),
                     *settled.image_files(converged.image_ids)]
            settled.record(key, stack.name, sorted(stack.services), files, observation,
                           [*warnings, *plan.warnings])
    return stack.name


def _wait_ready(client: EngineClient, observation: Observation, services: tuple[str, ...],
                timeout: int | None) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from stackr.project.conditions import wait_running_or_healthy

    deadline = None if timeout is None else time.monotonic() + timeout
    containers = observation.service_containers(services)
    with ThreadPoolExecutor(max_workers=max(1, len(containers))) as pool:
        futures = [pool.submit(wait_running_or_healthy, client, observation.handles[r], deadline)
                   for r in containers]
        for future in futures:
            future.result()
    print(f"project {observation.project}: every service is running or healthy",
          file=sys.stderr)
