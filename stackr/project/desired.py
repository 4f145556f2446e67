"""The desired state: the stack file's resources as ``DesiredResource``s with their
engine names, config hashes and ``depends_on`` waits. Pure: nothing here asks the engine.
"""

from __future__ import annotations

from stackr.errors import UsageError
from stackr.graph import ResourceId
from stackr.plan import DesiredResource
from stackr.project import names
from stackr.record import frozen_record, ordered_record

TYPE_CHECKING = False  # mypy reads True: typing is not loaded by a settled up
if TYPE_CHECKING:
    from collections.abc import Mapping

    from stackr.config.models import Stack
    from stackr.graph import StackGraph

CONDITIONS = ("service_started", "service_healthy", "service_completed_successfully")


@ordered_record
class DependencyWait:
    """Before ``needer`` starts, ``dependency`` must reach ``condition``."""

    dependency: ResourceId
    condition: str  # one of CONDITIONS
    required: bool = True  # False: a dependency that fails is reported, not fatal


@frozen_record
class DesiredStack:
    project: str
    resources: Mapping[ResourceId, DesiredResource]  # without external networks/volumes
    engine_names: Mapping[ResourceId, str]  # every network/volume/service replica
    needs: Mapping[ResourceId, tuple[ResourceId, ...]]  # recorded with each resource
    waits: Mapping[ResourceId, tuple[DependencyWait, ...]]  # service replicas only
    external: frozenset[ResourceId]  # external networks/volumes: must exist, never made
    restart_dependants: frozenset[tuple[str, str]] = frozenset()  # depends_on restart: true


def with_scale(stack: Stack, scales: Mapping[str, int]) -> Stack:
    """The stack with ``--scale SERVICE=N`` applied (it wins over ``deploy.replicas``)."""
    services = dict(stack.services)
    for service_name, count in scales.items():
        if service_name not in services:
            raise UsageError(f"--scale {service_name}={count}: no such service in the stack")
        if count < 0:
            raise UsageError(f"--scale {service_name}={count}: the count must not be negative")
        service = services[service_name]
        deploy = service.deploy.model_copy(update={"replicas": None}) if service.deploy else None
        services[service_name] = service.model_copy(update={"scale": count, "deploy": deploy})
    return stack.model_copy(update={"services": services})


def parse_scale(items: list[str]) -> dict[str, int]:
    scales: dict[str, int] = {}
    for item in items:
        service_name, sep, count = item.partition("=")
        if not sep or not service_name or not count.isdigit():
            raise UsageError(f"--scale {item!r}: use SERVICE=NUMBER")
        scales[service_name] = int(count)
    return scales


def _condition(reason: str) -> str | None:
    """``depends_on (service_healthy)`` → ``service_healthy``."""
    if reason.startswith("depends_on (") and reason.endswith(")"):
        return reason[len("depends_on ("):-1]
    return None


def desired_stack(
    stack: Stack, graph: StackGraph, image_ids: Mapping[str, str | None]
) -> DesiredStack:
    """``image_ids``: image reference → the id it resolves to now (None: not present)."""
    from stackr.graph import image_reference
    from stackr.hashing import config_hash, resource_config, service_config

    project = stack.name
    resources: dict[ResourceId, DesiredResource] = {}
    engine_names: dict[ResourceId, str] = {}
    needs: dict[ResourceId, tuple[ResourceId, ...]] = {}
    waits: dict[ResourceId, tuple[DependencyWait, ...]] = {}
    external: set[ResourceId] = set()
    for key, network in stack.networks.items():
        resource = ResourceId("network", key)
        engine_names[resource] = names.network_name(project, key, network.name)
        if network.external:
            external.add(resource)
            continue
        config = resource_config(network)
        resources[resource] = DesiredResource(resource, config, config_hash(config))
    for key, volume in stack.volumes.items():
        resource = ResourceId("volume", key)
        engine_names[resource] = names.volume_name(project, key, volume.name)
        if volume.external:
            external.add(resource)
            continue
        config = resource_config(volume)
        resources[resource] = DesiredResource(resource, config, config_hash(config))
    for resource in graph.resources():
        if resource.kind == "volume" and resource.name not in stack.volumes:
            # an anonymous volume (naming.anonymous_volume_key): made and kept like a
            # named one, without a model of its own
            engine_names[resource] = names.volume_name(project, resource.name, None)
            config = {"anonymous": True}
            resources[resource] = DesiredResource(resource, config, config_hash(config))
        if resource.kind != "service":
            continue
        service = stack.services[resource.name]
        if service.container_name and resource.replica > 1:
            raise UsageError(
                f"service {resource.name}: container_name {service.container_name!r} "
                "cannot be given to more than one replica"
            )
        reference = image_reference(project, resource.name, service)
        config = service_config(service, image_ids.get(reference) if reference else None)
        resources[resource] = DesiredResource(resource, config, config_hash(config))
        engine_names[resource] = names.container_name(
            project, resource.name, resource.replica, service.container_name
        )
        resource_needs = graph.needs_of(resource)
        needs[resource] = tuple(sorted(
            {needed for needed, _ in resource_needs if needed.kind != "image"}
        ))
        service_waits = []
        for needed, reason in resource_needs:
            condition = _condition(reason)
            if condition is None or needed.kind != "service":
                continue
            required = service.depends_on[needed.name].required
            service_waits.append(DependencyWait(needed, condition, required))
        waits[resource] = tuple(sorted(service_waits))
    restart_dependants = frozenset(
        (dependency_name, service_name)
        for service_name, service in stack.services.items()
        for dependency_name, dependency in service.depends_on.items()
        if dependency.restart
    )
    return DesiredStack(project, resources, engine_names, needs, waits, frozenset(external),
                        restart_dependants)
