"""From the desired stack and the observation to the executor's ``Requests``: every
body and wait decided here, so the executor only carries them out. Pure.
"""

from __future__ import annotations

import json

from stackr.project import names
from stackr.project.apply import Hooks, Requests
from stackr.record import frozen_record

TYPE_CHECKING = False  # mypy reads True: typing is not loaded by down
if TYPE_CHECKING:
    from collections.abc import Mapping

    from stackr.config.models import Stack
    from stackr.graph import ResourceId
    from stackr.project.apply import JsonObject
    from stackr.project.desired import DesiredStack
    from stackr.project.observe import Observation
    from stackr.project.secrets import SecretFile


@frozen_record
class Bodies:
    """What the engine is sent to make each resource: a function of the stack alone (and
    of the image ids in ``desired``), so a settled record can keep it."""

    containers: Mapping[ResourceId, tuple[str, JsonObject]]  # engine name, create body
    networks: Mapping[ResourceId, JsonObject]
    volumes: Mapping[ResourceId, JsonObject]


def request_bodies(stack: Stack, desired: DesiredStack,
                   secret_files: Mapping[str, list[SecretFile]] | None = None) -> Bodies:
    """``secret_files``: service name → its secrets and configs (``secrets.plan_files``)."""
    from stackr.project import translate

    containers: dict[ResourceId, tuple[str, JsonObject]] = {}
    networks: dict[ResourceId, JsonObject] = {}
    volumes: dict[ResourceId, JsonObject] = {}
    for resource in desired.resources:
        if resource.kind == "service":
            containers[resource] = (desired.engine_names[resource],
                                    translate.container_body(
                                        stack, resource, desired,
                                        (secret_files or {}).get(resource.name)))
        elif resource.kind == "network":
            networks[resource] = translate.network_body(stack, resource, desired)
        elif resource.kind == "volume":
            volumes[resource] = translate.volume_body(stack, resource, desired)
    return Bodies(containers, networks, volumes)


def up_requests(bodies: Bodies, desired: DesiredStack, observation: Observation,
                stop_timeout: int | None = None) -> Requests:
    wait_names = {r: n for r, n in desired.engine_names.items() if r.kind == "service"}
    # A start runs the hooks of the container made (new or kept); a stop, those recorded
    # with the container that is there (a recreate stops the old one).
    hooks = recorded_hooks(observation)
    for resource, (_, body) in bodies.containers.items():
        made = hooks_from_labels(body.get("Labels") or {})
        there = hooks.get(resource)
        if made is not None or there is not None:
            hooks[resource] = Hooks(made.post_start if made is not None else (),
                                    there.pre_stop if there is not None else ())
    return Requests(bodies.containers, bodies.networks, bodies.volumes,
                    dict(observation.handles), observation.display_names(),
                    dict(desired.waits), wait_names, stop_timeout, hooks)


def down_requests(observation: Observation, stop_timeout: int | None) -> Requests:
    return Requests(handles=dict(observation.handles),
                    display_names=observation.display_names(), stop_timeout=stop_timeout,
                    hooks=recorded_hooks(observation))


def recorded_hooks(observation: Observation) -> dict[ResourceId, Hooks]:
    """The hooks recorded with each container (``translate`` puts them in a label)."""
    found = {}
    for resource, summary in observation.containers.items():
        hooks = hooks_from_labels(summary.get("Labels") or {})
        if hooks is not None:
            found[resource] = hooks
    return found


def hooks_from_labels(labels: Mapping[str, str]) -> Hooks | None:
    text = labels.get(names.LABEL_HOOKS)
    if not text:
        return None
    try:
        recorded = json.loads(text)
        return Hooks(tuple(recorded.get("post_start") or ()),
                     tuple(recorded.get("pre_stop") or ()))
    except (ValueError, AttributeError, TypeError):
        return None  # not ours to fail on: a label someone else set
