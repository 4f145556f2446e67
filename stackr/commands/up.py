"""``stackr up``: converge the host to the stack file (observe → plan → apply)."""

from __future__ import annotations

import argparse
import sys
import time

TYPE_CHECKING = False  # mypy reads True: typing is not loaded by the verb
if TYPE_CHECKING:
    from collections.abc import Collection

    from stackr.client import EngineClient
    from stackr.plan import Plan
    from stackr.project.observe import Observation
    from stackr.project.settled import Compiled


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
    compiled = settled.lookup(key) if key is not None else None
    if compiled is not None:
        project, unattached = _apply_compiled(args, client, compiled)
    else:
        converged = _converge(args, client, key)
        if converged is None:
            return 0
        project, unattached = converged
    selected = tuple(args.services)
    if args.wait and not args.no_start:
        _wait_ready(client, observe(client, project), selected, args.wait_timeout)
    if args.detach or args.no_start:
        return 0
    from stackr.commands.attach import attach

    return attach(client, observe(client, project), selected, started_at,
                  args.abort_on_container_exit, args.exit_code_from, args.timeout,
                  frozenset(unattached))


def _check_services(args: argparse.Namespace, services: Collection[str]) -> None:
    from stackr.errors import UsageError

    unknown = sorted(set(args.services) - set(services))
    if args.exit_code_from and args.exit_code_from not in services:
        unknown.append(args.exit_code_from)
    if unknown:
        raise UsageError(f"no such service: {', '.join(unknown)}")


def _apply_compiled(args: argparse.Namespace, client: EngineClient, compiled: Compiled
                    ) -> tuple[str, list[str]]:
    """``up`` from the project's settled record (``stackr.project.settled``): its files
    are unchanged, so the stack need not be loaded to plan and apply."""
    from stackr.commands.project_session import progress_sink
    from stackr.plan import UpOptions
    from stackr.project.converge import plan_and_apply
    from stackr.project.lock import project_lock

    _check_services(args, compiled.services)
    for warning in compiled.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    options = UpOptions(restart_dependants=compiled.desired.restart_dependants)
    with project_lock(compiled.project, on_wait=lambda text: print(text, file=sys.stderr)):
        plan = plan_and_apply(client, compiled.graph, compiled.desired, compiled.bodies,
                              options, stop_timeout=args.timeout,
                              progress=progress_sink(args.progress))
    _report(plan, compiled.project)
    return compiled.project, list(compiled.unattached)


def _report(plan: Plan, project: str) -> None:
    from stackr.commands.project_session import print_warnings

    print_warnings(plan.warnings)
    if plan.is_empty():
        print(f"nothing to do: project {project} matches the stack file", file=sys.stderr)


def _converge(args: argparse.Namespace, client: EngineClient, key: str | None
              ) -> tuple[str, list[str]] | None:
    """The full path: load, plan, apply; the project's name and its services with
    ``attach: false`` (``None``: a dry run)."""
    from stackr.commands.project_options import load_options, load_project
    from stackr.commands.project_session import progress_sink
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
    _report(plan, stack.name)
    unattached = sorted(name for name, service in stack.services.items() if not service.attach)
    if key is not None and converged.bodies is not None and settled.eligible(
            stack, converged.desired.external):
        compiled = settled.Compiled(
            stack.name, tuple(sorted(stack.services)), tuple(unattached),
            tuple(warning.render() for warning in loaded.warnings), graph,
            converged.desired, converged.bodies)
        files = [*settled.consulted_files(loaded, load_options(args)),
                 *settled.image_files(converged.image_ids)]
        settled.record(key, compiled, files)
    return stack.name, unattached


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
