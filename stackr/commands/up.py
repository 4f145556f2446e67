"""``stackr up``: converge the host to the stack file (observe → plan → apply)."""

from __future__ import annotations

import argparse
import sys
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:

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
    from stackr.commands.project_options import load_project
    from stackr.commands.project_session import client_for, print_warnings, progress_sink
    from stackr.errors import UsageError
    from stackr.graph import build_graph
    from stackr.plan import UpOptions
    from stackr.project.converge import converge
    from stackr.project.desired import parse_scale, with_scale
    from stackr.project.observe import observe

    if args.force_recreate and args.no_recreate:
        raise UsageError("--force-recreate and --no-recreate cannot be combined")
    if args.exit_code_from:
        args.abort_on_container_exit = True
    if args.detach and args.abort_on_container_exit:
        raise UsageError("-d cannot be combined with --abort-on-container-exit/--exit-code-from")
    loaded = load_project(args)
    stack = with_scale(loaded.stack, parse_scale(args.scale))
    unknown = sorted(set(args.services) - set(stack.services))
    if args.exit_code_from and args.exit_code_from not in stack.services:
        unknown.append(args.exit_code_from)
    if unknown:
        raise UsageError(f"no such service: {', '.join(unknown)}")
    graph = build_graph(stack, loaded.raw.source_map)
    client = client_for(args)
    started_at = time.time()
    options = UpOptions(
        force_recreate=args.force_recreate, no_recreate=args.no_recreate,
        no_start=args.no_start, remove_orphans=args.remove_orphans,
        services=tuple(args.services), no_deps=args.no_deps,
    )
    plan = converge(
        client, loaded, stack, graph, options, dry_run=args.dry_run, build_all=args.build,
        stop_timeout=args.timeout, progress=progress_sink(args.progress),
        on_wait=lambda text: print(text, file=sys.stderr),
    ).plan
    if args.dry_run:
        print(plan.render())
        return 0
    print_warnings(plan.warnings)
    if plan.is_empty():
        print(f"nothing to do: project {stack.name} matches the stack file", file=sys.stderr)
    selected = tuple(args.services)
    if args.wait and not args.no_start:
        _wait_ready(client, observe(client, stack.name), selected, args.wait_timeout)
    if args.detach or args.no_start:
        return 0
    from stackr.commands.attach import attach

    return attach(client, observe(client, stack.name), selected, started_at,
                  args.abort_on_container_exit, args.exit_code_from, args.timeout)


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
