"""What the engine says the project has now, as ``ObservedResource``s.

Containers, networks and volumes are found by the project label; each carries its
config, hash and needs in labels (written by ``translate``), so ``down`` needs no file.
The engine re-checks its records against the kernel before it answers.
"""

from __future__ import annotations

import json

from stackr.graph import ResourceId
from stackr.naming import LABEL_CONFIG_HASH, LABEL_PROJECT, LABEL_REPLICA
from stackr.plan import ObservedResource
from stackr.project import names
from stackr.record import frozen_record

TYPE_CHECKING = False  # mypy reads True: typing is not loaded by down, ps, logs
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any, Protocol

    JsonObject = dict[str, Any]

    class EngineReader(Protocol):  # a Protocol is for mypy only
        def containers(self, all: bool = False,
                       filters: Mapping[str, list[str]] | None = None) -> list[JsonObject]: ...

        def volumes(self, filters: Mapping[str, list[str]] | None = None
                    ) -> list[JsonObject]: ...

        def request(self, method: str, path: str, body: Any = None) -> Any: ...

RUNNING_STATES = ("running", "restarting", "paused")  # a paused process is alive


@frozen_record
class Observation:
    project: str
    resources: Mapping[ResourceId, ObservedResource]
    handles: Mapping[ResourceId, str]  # the engine's id (containers) or name
    containers: Mapping[ResourceId, JsonObject]  # the engine's summaries, for ps
    # ``stackr run`` containers (no replicas: the plans do not know them), for down
    one_offs: tuple[JsonObject, ...] = ()

    def display_names(self) -> dict[ResourceId, str]:
        """Container names (the handles of containers are ids), network/volume names."""
        shown = dict(self.handles)
        for resource, summary in self.containers.items():
            shown[resource] = str(summary["Names"][0]).lstrip("/")
        return shown

    def service_containers(self, services: tuple[str, ...] = (), *, require: bool = False
                           ) -> list[ResourceId]:
        """The containers of ``services`` (all: every service's). ``require``: a named
        service without any container is an error (a typo, as Compose says it)."""
        if require:
            missing = sorted(set(services) - {r.name for r in self.containers})
            if missing:
                from stackr.errors import UsageError

                raise UsageError(f"no such service: {', '.join(missing)} (project "
                                 f"{self.project} has no container of it)")
        return sorted(r for r in self.containers if not services or r.name in services)


def _config(labels: Mapping[str, str]) -> Mapping[str, Any]:
    try:
        config = json.loads(labels.get(names.LABEL_CONFIG, "{}"))
    except json.JSONDecodeError:
        return {}
    return config if isinstance(config, dict) else {}


def _observed(resource: ResourceId, labels: Mapping[str, str], running: bool
              ) -> ObservedResource:
    return ObservedResource(
        resource=resource,
        config=_config(labels),
        config_hash=labels.get(LABEL_CONFIG_HASH, ""),
        running=running,
        needs=names.parse_needs(labels.get(names.LABEL_NEEDS, "")),
    )


def list_networks(client: EngineReader, project: str) -> list[JsonObject]:
    from urllib.parse import urlencode

    query = urlencode({"filters": json.dumps(names.project_filter(project))})
    networks: list[JsonObject] = client.request("GET", f"/networks?{query}")
    return networks


def observe(client: EngineReader, project: str) -> Observation:
    resources: dict[ResourceId, ObservedResource] = {}
    handles: dict[ResourceId, str] = {}
    containers: dict[ResourceId, JsonObject] = {}
    one_offs: list[JsonObject] = []
    filters = names.project_filter(project)
    for summary in client.containers(all=True, filters=filters):
        labels = summary.get("Labels") or {}
        service_name = labels.get(names.KIND_LABEL["service"])
        replica = labels.get(LABEL_REPLICA, "")
        if labels.get(LABEL_PROJECT) != project:
            continue
        if labels.get(names.LABEL_ONEOFF) == "1":
            one_offs.append(summary)
            continue
        if not service_name or not replica.isdigit():
            continue  # not one of ours
        resource = ResourceId("service", service_name, int(replica))
        running = summary.get("State") in RUNNING_STATES
        resources[resource] = _observed(resource, labels, running)
        handles[resource] = summary["Id"]
        containers[resource] = summary
    for network in list_networks(client, project):
        labels = network.get("Labels") or {}
        key = labels.get(names.KIND_LABEL["network"])
        if key:
            resource = ResourceId("network", key)
            resources[resource] = _observed(resource, labels, True)
            handles[resource] = network["Name"]
    for volume in client.volumes(filters=filters):
        labels = volume.get("Labels") or {}
        key = labels.get(names.KIND_LABEL["volume"])
        if key:
            resource = ResourceId("volume", key)
            resources[resource] = _observed(resource, labels, True)
            handles[resource] = volume["Name"]
    return Observation(project, resources, handles, containers, tuple(one_offs))
