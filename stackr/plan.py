"""The plan: a pure function from (desired, observed) to ordered operations.

``reconcile`` decides what ``up`` must do; ``teardown`` what ``down`` must do. Both return
the same ``Plan`` type (compose's pipeline, without its asymmetry between up and down).
Each ``Operation`` names its resource id and a human cause, so the plan's text is both
the ``--dry-run`` output and the oracle of the planner's tests.

Operations are grouped in waves: every operation of a wave may run in parallel with the
others, except that operations on the same resource run in their listed order (stop,
remove, create, start). Waves come from the dependency graph: removals in reverse
dependency order first, then creations and starts by generation.

Nothing here touches the host or the engine.
"""

from __future__ import annotations

from enum import Enum

from stackr.record import frozen_record

TYPE_CHECKING = False  # mypy reads True: typing is not loaded by down, ps, logs
if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping
    from typing import Any

    from stackr.graph import ResourceId, StackGraph


class OpType(Enum):
    # Values are grouped by resource kind and spaced so that adding one shifts nothing.
    CREATE_NETWORK = 10
    REMOVE_NETWORK = 11
    CREATE_VOLUME = 20
    REMOVE_VOLUME = 21
    PULL_IMAGE = 30
    BUILD_IMAGE = 31
    REMOVE_IMAGE = 32
    CREATE_CONTAINER = 40
    START_CONTAINER = 41
    STOP_CONTAINER = 42
    REMOVE_CONTAINER = 43
    RESTART_CONTAINER = 44


@frozen_record
class Operation:
    op: OpType
    resource: ResourceId
    cause: str
    wave: int


@frozen_record
class Plan:
    operations: tuple[Operation, ...]
    warnings: tuple[str, ...] = ()

    def is_empty(self) -> bool:
        return not self.operations

    def waves(self) -> list[list[Operation]]:
        grouped: dict[int, list[Operation]] = {}
        for operation in self.operations:
            grouped.setdefault(operation.wave, []).append(operation)
        return [grouped[wave] for wave in sorted(grouped)]

    def render(self) -> str:
        if not self.operations:
            lines = ["nothing to do: the host matches the stack"]
        else:
            width = max(len(str(operation.resource)) for operation in self.operations)
            lines = [
                f"{operation.wave:>2}  {operation.op.name:<17} "
                f"{operation.resource!s:<{width}}  ({operation.cause})"
                for operation in self.operations
            ]
        lines += [f"warning: {warning}" for warning in self.warnings]
        return "\n".join(lines)


@frozen_record
class DesiredResource:
    resource: ResourceId
    config: Mapping[str, Any]  # canonical config that decides recreation (JSON-able)
    config_hash: str


@frozen_record
class ObservedResource:
    resource: ResourceId
    config: Mapping[str, Any]  # as recorded when it was made
    config_hash: str
    running: bool = True  # containers only: is its process alive
    needs: tuple[ResourceId, ...] = ()  # recorded dependencies, for down without a file
    external: bool = False  # not made by stackr (external networks/volumes): never removed


@frozen_record
class UpOptions:
    force_recreate: bool = False
    no_recreate: bool = False
    no_start: bool = False
    remove_orphans: bool = False
    services: tuple[str, ...] = ()  # only these (with their dependencies); empty = all
    no_deps: bool = False  # with services: not the services they depend on
    needs_only: bool = False  # with services: what they need, not themselves (`run`)
    # -V: a recreated container gets new anonymous volumes instead of its old ones' data
    renew_anon_volumes: bool = False
    # (dependency, dependant) service names of ``depends_on: {restart: true}``: the
    # dependant is restarted when its dependency is recreated.
    restart_dependants: frozenset[tuple[str, str]] = frozenset()


@frozen_record
class DownOptions:
    remove_volumes: bool = False


# The defaults' values (records are immutable: one of each serves every call).
DEFAULT_UP_OPTIONS = UpOptions()
DEFAULT_DOWN_OPTIONS = DownOptions()


class _Builder:
    """Collects operations by wave while the plan is being decided."""

    def __init__(self) -> None:
        self.operations: list[Operation] = []
        self.warnings: list[str] = []

    def add(self, op: OpType, resource: ResourceId, cause: str, wave: int) -> None:
        self.operations.append(Operation(op, resource, cause, wave))

    def build(self) -> Plan:
        order = {resource: index for index, resource in enumerate(_op_order())}

        def key(operation: Operation) -> tuple[int, ResourceId, int]:
            return (operation.wave, operation.resource, order[operation.op])

        return Plan(tuple(sorted(self.operations, key=key)), tuple(self.warnings))


def _op_order() -> list[OpType]:
    """Within one resource and wave, operations run in this order."""
    return [
        OpType.STOP_CONTAINER,
        OpType.REMOVE_CONTAINER,
        OpType.REMOVE_NETWORK,
        OpType.REMOVE_VOLUME,
        OpType.REMOVE_IMAGE,
        OpType.PULL_IMAGE,
        OpType.BUILD_IMAGE,
        OpType.CREATE_NETWORK,
        OpType.CREATE_VOLUME,
        OpType.CREATE_CONTAINER,
        OpType.START_CONTAINER,
        OpType.RESTART_CONTAINER,
    ]


def changed_keys(desired: Mapping[str, Any], observed: Mapping[str, Any]) -> list[str]:
    """Top-level config keys whose values differ, for a human cause."""
    return sorted(
        key for key in set(desired) | set(observed) if desired.get(key) != observed.get(key)
    )


def _change_cause(desired: DesiredResource, observed: ObservedResource) -> str:
    keys = changed_keys(desired.config, observed.config)
    if keys == ["image_id"]:
        return "image changed"
    if keys:
        return f"{', '.join(keys)} changed"
    return "config changed"


def selected_resources(
    graph: StackGraph, services: Iterable[str], no_deps: bool = False, needs_only: bool = False
) -> set[ResourceId] | None:
    """The resources ``up SERVICE...`` touches: the services and all they need (with
    ``no_deps``: their networks, volumes and images, but no other service; with
    ``needs_only``: not the services themselves, as ``run`` makes its own container)."""
    wanted = set(services)
    if not wanted:
        return None
    selected: set[ResourceId] = set()
    pending = [r for r in graph.resources() if r.kind == "service" and r.name in wanted]
    while pending:
        resource = pending.pop()
        if resource not in selected:
            selected.add(resource)
            pending.extend(
                needed
                for needed, _ in graph.needs_of(resource)
                if not (no_deps and needed.kind == "service")
            )
    if needs_only:
        selected = {r for r in selected if not (r.kind == "service" and r.name in wanted)}
    return selected


def _recreations(
    graph: StackGraph,
    desired: Mapping[ResourceId, DesiredResource],
    observed: Mapping[ResourceId, ObservedResource],
    options: UpOptions,
    builder: _Builder,
) -> dict[ResourceId, str]:
    """Resources to take down and make again, with the cause; follows the graph so a
    recreated network or ``network_mode`` parent carries its dependants with it."""
    causes: dict[ResourceId, str] = {}
    for generation in graph.start_generations():
        for resource in generation:
            if resource not in desired or resource not in observed or resource.kind == "image":
                continue
            current = observed[resource]
            wanted = desired[resource]
            if current.external:
                continue
            if resource.kind == "volume":
                if wanted.config_hash != current.config_hash:
                    builder.warnings.append(
                        f"{resource}: its configuration changed but it holds data; kept as it is "
                        "(remove it with `stackr down -v` to make it again)"
                    )
                continue
            if resource.kind == "service" and options.no_recreate:
                continue
            if resource.kind == "service" and options.force_recreate:
                causes[resource] = "forced by --force-recreate"
            elif wanted.config_hash != current.config_hash:
                causes[resource] = _change_cause(wanted, current)
            else:
                inherited = [
                    (needed, reason)
                    for needed, reason in graph.needs_of(resource)
                    if needed in causes and reason in ("network", *NAMESPACE_NEEDS)
                ]
                if inherited:
                    needed, reason = inherited[0]
                    causes[resource] = f"{needed} recreated ({reason})"
    if options.renew_anon_volumes:
        for resource in [r for r in causes if r.kind == "service"]:
            for needed, _ in graph.needs_of(resource):
                if needed.kind == "volume" and needed in observed and needed in desired \
                        and desired[needed].config.get("anonymous"):
                    causes[needed] = f"renewed with {resource} (--renew-anon-volumes)"
    return causes


# Needs of another container's namespaces (or volumes), joined when a container is
# built: it follows that container's recreation, and is built only once it runs.
NAMESPACE_NEEDS = ("network_mode", "volumes_from", "ipc", "pid")


def reconcile(
    graph: StackGraph,
    desired: Mapping[ResourceId, DesiredResource],
    observed: Mapping[ResourceId, ObservedResource],
    options: UpOptions = DEFAULT_UP_OPTIONS,
) -> Plan:
    """What ``up`` must do to make the host match ``desired``."""
    builder = _Builder()
    selected = selected_resources(graph, options.services, options.no_deps,
                                  options.needs_only)
    generations = [
        [r for r in generation if selected is None or r in selected]
        for generation in graph.start_generations()
    ]
    recreate = _recreations(graph, desired, observed, options, builder)
    if selected is not None:
        recreate = {r: cause for r, cause in recreate.items() if r in selected}

    # Removals first, in reverse dependency order: recreated resources and orphans.
    orphans = sorted(
        r for r in observed if r.kind == "service" and r not in desired and not observed[r].external
    )
    removal_waves = list(reversed(generations))
    wave = 0
    for generation in removal_waves:
        doomed = [r for r in generation if r in recreate]
        for resource in doomed:
            _add_removal(builder, resource, observed[resource], recreate[resource], wave)
        wave += 1 if doomed else 0
    desired_names = {r.name for r in desired if r.kind == "service"}
    scaled_down = [r for r in orphans if r.name in desired_names]
    true_orphans = [r for r in orphans if r.name not in desired_names]
    for resource in scaled_down:
        _add_removal(builder, resource, observed[resource], "scaled down", wave)
    if true_orphans and options.remove_orphans:
        for resource in true_orphans:
            _add_removal(builder, resource, observed[resource], "orphan", wave)
    elif true_orphans:
        names = ", ".join(sorted({r.name for r in true_orphans}))
        builder.warnings.append(
            f"orphan service(s) {names} not in the stack file; "
            "run `stackr up --remove-orphans` to remove them"
        )
    wave += 1 if scaled_down or (true_orphans and options.remove_orphans) else 0

    # Then creations and starts, by generation. A container is created in the first
    # wave that creates containers (it needs only networks, volumes and its image, all
    # made before): the engine builds it at create, so the stack's containers are built
    # in parallel and a chain of depends_on waits only for the starts. Not a container
    # that joins another's namespaces at create (network_mode: service:x).
    first_container_wave: int | None = None
    for generation in generations:
        did_something = False
        for resource in generation:
            if resource.kind == "image" or resource not in desired:
                continue
            current = observed.get(resource)
            if current is not None and current.external:
                continue
            if current is None or resource in recreate:
                cause = recreate.get(resource, "new")
                create_wave = wave
                if resource.kind == "service" and not any(
                    reason in NAMESPACE_NEEDS for _, reason in graph.needs_of(resource)
                ):
                    if first_container_wave is None:
                        first_container_wave = wave
                    create_wave = first_container_wave
                _add_creation(builder, resource, cause, options, create_wave, wave)
                did_something = True
            elif resource.kind == "service" and not current.running and not options.no_start:
                builder.add(OpType.START_CONTAINER, resource, "not running", wave)
                did_something = True
            elif resource.kind == "service" and not options.no_start:
                restarted_by = [
                    needed
                    for needed, _ in graph.needs_of(resource)
                    if needed in recreate
                    and (needed.name, resource.name) in options.restart_dependants
                ]
                if restarted_by:
                    builder.add(
                        OpType.RESTART_CONTAINER,
                        resource,
                        f"{restarted_by[0]} recreated (depends_on restart)",
                        wave,
                    )
                    did_something = True
        wave += 1 if did_something else 0
    return builder.build()


def _add_removal(
    builder: _Builder, resource: ResourceId, current: ObservedResource, cause: str, wave: int
) -> None:
    if resource.kind == "service":
        if current.running:
            builder.add(OpType.STOP_CONTAINER, resource, cause, wave)
        builder.add(OpType.REMOVE_CONTAINER, resource, cause, wave)
    elif resource.kind == "network":
        builder.add(OpType.REMOVE_NETWORK, resource, cause, wave)
    elif resource.kind == "volume":
        builder.add(OpType.REMOVE_VOLUME, resource, cause, wave)


def _add_creation(
    builder: _Builder, resource: ResourceId, cause: str, options: UpOptions, wave: int,
    start_wave: int,
) -> None:
    if resource.kind == "network":
        builder.add(OpType.CREATE_NETWORK, resource, cause, wave)
    elif resource.kind == "volume":
        builder.add(OpType.CREATE_VOLUME, resource, cause, wave)
    elif resource.kind == "service":
        builder.add(OpType.CREATE_CONTAINER, resource, cause, wave)
        if not options.no_start:
            builder.add(OpType.START_CONTAINER, resource, cause, start_wave)


def teardown(
    observed: Mapping[ResourceId, ObservedResource], options: DownOptions = DEFAULT_DOWN_OPTIONS
) -> Plan:
    """What ``down`` must do: everything the project made, dependants first.

    Works from the records alone (each records what it needs), so ``down`` succeeds
    when the stack file has changed or is gone.
    """
    from stackr.graph import graph_from_needs

    needs = {resource: record.needs for resource, record in observed.items()}
    graph = graph_from_needs(needs)
    builder = _Builder()
    doomed = [
        resource
        for resource, record in observed.items()
        if not record.external
        and resource.kind != "image"
        and (resource.kind != "volume" or options.remove_volumes)
    ]
    # Stops in reverse dependency order (a dependant stops before what it needs), each
    # container removed right after its stop (its dependants are stopped by then; the
    # executor of `down` runs the removal beside the next wave's stops); a container
    # that is not running is removed at once...
    wave = 0
    for resource in sorted(r for r in doomed if r.kind == "service" and not observed[r].running):
        builder.add(OpType.REMOVE_CONTAINER, resource, "down", wave)
    for generation in graph.teardown_generations():
        stops = [r for r in generation if r in doomed and r.kind == "service"
                 and observed[r].running]
        for resource in stops:
            builder.add(OpType.STOP_CONTAINER, resource, "down", wave)
            builder.add(OpType.REMOVE_CONTAINER, resource, "down", wave)
        wave += 1 if stops else 0
    # ...then, every container being gone, the networks and volumes (which need nothing
    # of each other).
    wave += 1 if wave == 0 and any(r.kind == "service" for r in doomed) else 0
    for resource in sorted(r for r in doomed if r.kind != "service"):
        _add_removal(builder, resource, observed[resource], "down", wave)
    return builder.build()


def lifecycle(
    observed: Mapping[ResourceId, ObservedResource],
    action: str,
    services: tuple[str, ...] = (),
) -> Plan:
    """``stop`` (dependants first), ``start`` and ``restart`` (dependencies first) of the
    project's containers, or of those of ``services``; from the records alone."""
    from stackr.graph import graph_from_needs

    if action not in ("stop", "start", "restart"):
        raise ValueError(f"unknown lifecycle action {action!r}")
    needs = {resource: record.needs for resource, record in observed.items()}
    graph = graph_from_needs(needs)
    generations = (
        graph.teardown_generations() if action == "stop" else graph.start_generations()
    )
    builder = _Builder()
    wave = 0
    for generation in generations:
        did_something = False
        for resource in generation:
            current = observed.get(resource)
            if current is None or resource.kind != "service":
                continue
            if services and resource.name not in services:
                continue
            if action == "stop" and current.running:
                builder.add(OpType.STOP_CONTAINER, resource, "stop", wave)
            elif action == "start" and not current.running:
                builder.add(OpType.START_CONTAINER, resource, "start", wave)
            elif action == "restart":
                builder.add(OpType.RESTART_CONTAINER, resource, "restart", wave)
            else:
                continue
            did_something = True
        wave += 1 if did_something else 0
    return builder.build()
