"""``converge``: make the engine's view of a project match a loaded stack, once.

The one use case behind ``stackr up`` and every reapply of ``stackr watch``: under the
project's lock, resolve (build or pull) the images, compute the desired state, check
external resources, observe the engine, plan, write secret files, and run the plan.
Callable any number of times from one process; it prints nothing (the caller renders
the plan, warnings and progress).
"""

from __future__ import annotations

from stackr.record import frozen_record, replace_record

TYPE_CHECKING = False  # mypy reads True: typing is not loaded by up
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from stackr.client import EngineClient
    from stackr.config.models import Stack
    from stackr.config.pipeline import LoadedStack
    from stackr.graph import ResourceId, StackGraph
    from stackr.plan import Plan, UpOptions
    from stackr.project.apply import ProgressSink
    from stackr.project.desired import DesiredStack
    from stackr.project.requests import Bodies


@frozen_record
class Converged:
    plan: Plan  # what was (or, with dry_run, would be) done
    desired: DesiredStack  # with the image ids resolved: what a caller builds more on
    image_ids: Mapping[str, str | None]  # image reference → the id it resolved to
    bodies: Bodies | None  # what each resource is made with (None: a dry run)


def converge(
    client: EngineClient,
    loaded: LoadedStack,
    stack: Stack,
    graph: StackGraph,
    options: UpOptions,
    *,
    dry_run: bool = False,
    build_all: bool = False,
    stop_timeout: int | None = None,
    progress: ProgressSink | None = None,
    on_wait: Callable[[str], None] | None = None,
) -> Converged:
    """Plan, and unless ``dry_run`` apply, what makes the project match ``stack`` (the
    loaded stack, possibly scaled). Raises ``ApplyError`` naming the failed operation."""
    from stackr.commands.project_session import resolve_images
    from stackr.plan import reconcile, selected_resources
    from stackr.project import secrets
    from stackr.project.desired import desired_stack
    from stackr.project.lock import project_lock
    from stackr.project.observe import observe
    from stackr.project.requests import request_bodies

    with project_lock(stack.name, on_wait=on_wait):
        # Only the images of what `up SERVICE...` touches are pulled or built.
        touched = selected_resources(graph, options.services, options.no_deps,
                                     options.needs_only)
        image_ids = resolve_images(loaded, stack, graph, pull=not dry_run, build_all=build_all,
                                   only=touched)
        desired = desired_stack(stack, graph, image_ids)
        check_external(client, desired.external, desired.engine_names)
        options = replace_record(options, restart_dependants=desired.restart_dependants)
        if dry_run:
            observation = observe(client, stack.name)
            plan = reconcile(graph, desired.resources, observation.resources, options)
            return Converged(plan, desired, image_ids, None)
        # Secrets and configs are (re)written on every up: a reboot empties run_root().
        secret_files = {
            name: secrets.plan_files(
                stack, name, service, loaded.raw.environment, secrets.project_directory(stack.name)
            )
            for name, service in stack.services.items()
            if service.secrets or service.configs
        }
        for files in secret_files.values():
            secrets.write_files(files)
        bodies = request_bodies(stack, desired, secret_files)
        plan = plan_and_apply(client, graph, desired, bodies, options,
                              stop_timeout=stop_timeout, progress=progress)
    return Converged(plan, desired, image_ids, bodies)


def plan_and_apply(
    client: EngineClient,
    graph: StackGraph,
    desired: DesiredStack,
    bodies: Bodies,
    options: UpOptions,
    *,
    stop_timeout: int | None = None,
    progress: ProgressSink | None = None,
) -> Plan:
    """Observe, plan and apply, under the project's lock (the caller's): the part of
    ``converge`` that needs no stack file, for it and for a settled record's ``up``."""
    from stackr.plan import OpType, reconcile
    from stackr.project.apply import Executor
    from stackr.project.observe import observe
    from stackr.project.requests import up_requests

    observation = observe(client, desired.project)
    plan = reconcile(graph, desired.resources, observation.resources, options)
    if not plan.is_empty():
        requests = up_requests(bodies, desired, observation, stop_timeout)
        # A creation runs beside the next waves (a chain's starts wait only for their
        # own container's creation).
        Executor(client, requests, progress,
                 detach=frozenset({OpType.CREATE_CONTAINER})).run(plan)
    return plan


def check_external(
    client: EngineClient,
    external: frozenset[ResourceId],
    engine_names: Mapping[ResourceId, str],
) -> None:
    """External networks and volumes must exist: stackr never makes or removes them."""
    from urllib.parse import quote

    from stackr.client import EngineNotFoundError
    from stackr.errors import ApplyError

    for resource in sorted(external):
        name = engine_names[resource]
        path = ("/networks/" if resource.kind == "network" else "/volumes/") + quote(name, safe="")
        try:
            client.request("GET", path)
        except EngineNotFoundError:
            raise ApplyError(
                f"{resource.kind} {name} is declared external but does not exist "
                "(create it first)"
            ) from None
